/** A signed test event sent straight to the receiver (no outbox, no retry) to check the whole path end to end. */
import { SendError } from '../../core/index.js';
import { integerOption, rejectUnknownKeys } from '../../core/options.js';
import { createSigner } from '../webhook/signature-standard.js';
import { EVENT_TYPE_HEADER, TEST_EVENT_TYPE } from '../webhook/headers.js';
import { newMessageId } from './ids.js';
import { type Connect, createTransport, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_REQUEST_TIMEOUT_MS, DEFAULT_WEBHOOK_PATH } from './transport.js';

export { TEST_EVENT_TYPE };

/** Options of `sendTestEvent`. */
export interface TestEventOptions {
  readonly connect: Connect;
  /** `whsec_…` or `whsk_…`. */
  readonly secret: string;
  /** Request path; default `/webhooks`. */
  readonly path?: string;
  /** `Host` header; default `darkhook`. */
  readonly host?: string;
  /** Timeout in ms; default 30 000. */
  readonly requestTimeoutMs?: number;
}

/** The round trip of a test event. */
export interface TestEventResult {
  readonly id: string;
  readonly status: number;
  /** Milliseconds from the request to the complete answer, connection set-up included. */
  readonly ms: number;
}

/**
 * Sign and POST one `darkhook.test` event and wait for the answer.
 *
 * @throws {SendError} ERR_SEND_REJECTED (non-2xx, with `status`), ERR_SEND_TIMEOUT; the connect error
 * @example
 * const { status, ms } = await sendTestEvent({ connect: () => ziti.dial('hooks'), secret });
 */
export async function sendTestEvent(options: TestEventOptions): Promise<TestEventResult> {
  rejectUnknownKeys(options, ['connect', 'secret', 'path', 'host', 'requestTimeoutMs'], 'sendTestEvent');
  const transport = createTransport({
    connect: options.connect,
    path: options.path ?? DEFAULT_WEBHOOK_PATH,
    host: options.host ?? 'darkhook',
    requestTimeoutMs: integerOption(options.requestTimeoutMs, DEFAULT_REQUEST_TIMEOUT_MS, 1, 'sendTestEvent: requestTimeoutMs'),
    maxResponseBytes: DEFAULT_MAX_RESPONSE_BYTES,
  });
  try {
    const id = newMessageId();
    const timestamp = Math.floor(Date.now() / 1000);
    const body = Buffer.from(JSON.stringify({ test: true, sentAt: new Date(timestamp * 1000).toISOString() }));
    const res = await transport.post(
      {
        'content-type': 'application/json',
        [EVENT_TYPE_HEADER]: TEST_EVENT_TYPE,
        ...createSigner(options.secret).headers(id, timestamp, body),
      },
      body,
    );
    if (res.status < 200 || res.status >= 300) {
      const reason = res.body.subarray(0, 200).toString('utf8').replace(/\s+/g, ' ').trim();
      throw new SendError('ERR_SEND_REJECTED', `the receiver answered the test event with HTTP ${res.status}${reason ? `: ${reason}` : ''}`, {
        status: res.status,
        ids: [id],
      });
    }
    return Object.freeze({ id, status: res.status, ms: Math.round(res.ms) });
  } finally {
    transport.close();
  }
}
