/** Turning one verified HTTP request into the messages to store: signature and time window, then single event or batch. */
import type { IncomingHttpHeaders } from 'node:http';
import { batchFormatOf, decodeBatch } from '../../connector/webhook/batch-envelope.js';
import { type StandardVerifier, WEBHOOK_ID_HEADER, WEBHOOK_SIGNATURE_HEADER, WEBHOOK_TIMESTAMP_HEADER } from '../../connector/webhook/signature-standard.js';
import { EVENT_TYPE_HEADER } from '../../connector/webhook/headers.js';
import { ReceiverError } from '../../core/index.js';
import type { NewStoredMessage } from '../log/types.js';

/** Type stored for a single event that came without `webhook-event-type` (other Standard Webhooks producers). */
export const UNKNOWN_EVENT_TYPE = 'unknown';

/** Request headers that are never stored: the connection's, the signature's, and credentials. */
const NOT_STORED = new Set([
  'host', 'content-length', 'connection', 'keep-alive', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'expect',
  'authorization', 'proxy-authorization', 'cookie',
  WEBHOOK_ID_HEADER, WEBHOOK_TIMESTAMP_HEADER, WEBHOOK_SIGNATURE_HEADER, EVENT_TYPE_HEADER,
]);

/** What one request carried, once verified. */
export interface VerifiedRequest {
  /** The request's `webhook-id`: the message id, or the batch id. */
  readonly requestId: string;
  readonly batch: boolean;
  readonly messages: NewStoredMessage[];
}

/** What `verifyRequest` needs. */
export interface VerifyRequestInput {
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  readonly caller: string | undefined;
  /** The trusted keys and the time window, parsed once for every request (`createVerifier`). */
  readonly verifier: StandardVerifier;
  readonly maxBodyBytes: number;
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Headers worth replaying downstream with a single event: content type and the sender's custom headers. */
function storedHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (NOT_STORED.has(name) || value === undefined) continue;
    out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

/**
 * Verify the request's Standard Webhooks signature (before the clock, as the verifier does), then
 * read it as a batch envelope (by content type) or as one event. The batch is decoded only after
 * its signature matched, so nothing unauthenticated is parsed.
 *
 * @throws {WebhookError} ERR_WEBHOOK_HEADERS_MISSING, ERR_WEBHOOK_ID_INVALID, ERR_WEBHOOK_TIMESTAMP_INVALID
 *   (400), ERR_WEBHOOK_SIGNATURE_MISMATCH, ERR_WEBHOOK_TIMESTAMP_TOO_OLD/TOO_NEW (401),
 *   ERR_WEBHOOK_BATCH_INVALID (400), ERR_WEBHOOK_BATCH_TOO_LARGE (413)
 * @throws {ReceiverError} ERR_RECEIVER_MEDIA_TYPE_UNSUPPORTED (415: an `application/vnd.darkhook.*` form it does not know)
 */
export function verifyRequest(input: VerifyRequestInput): VerifiedRequest {
  const { headers, body, caller } = input;
  const id = single(headers[WEBHOOK_ID_HEADER]);
  const timestamp = single(headers[WEBHOOK_TIMESTAMP_HEADER]);
  input.verifier.verify({ id, timestamp, signature: single(headers[WEBHOOK_SIGNATURE_HEADER]), body });
  // verify() returned: id and timestamp are present and well-formed.
  const requestId = id!;
  const contentType = single(headers['content-type']) ?? '';
  const format = batchFormatOf(contentType);
  if (format === undefined && /^\s*application\/vnd\.darkhook\./i.test(contentType)) {
    // A darkhook form from a newer sender: stored as one opaque event it would be acknowledged and lost.
    throw new ReceiverError('ERR_RECEIVER_MEDIA_TYPE_UNSUPPORTED', `content type ${contentType.split(';')[0]!.trim()} is not a form this receiver knows`, { statusCode: 415 });
  }
  if (format !== undefined) {
    const events = decodeBatch(body, contentType, { maxBytes: input.maxBodyBytes });
    return {
      requestId,
      batch: true,
      messages: events.map((e) => ({
        id: e.id,
        type: e.type,
        timestamp: e.timestamp,
        body: e.body,
        headers: e.headers ?? {},
        caller,
        batchId: requestId,
      })),
    };
  }
  return {
    requestId,
    batch: false,
    messages: [
      {
        id: requestId,
        // The type header is not signed; it only labels the message (the body is what is verified).
        type: single(headers[EVENT_TYPE_HEADER]) || UNKNOWN_EVENT_TYPE,
        timestamp: Number(timestamp),
        body,
        headers: storedHeaders(headers),
        caller,
        batchId: undefined,
      },
    ],
  };
}
