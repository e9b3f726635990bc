/**
 * Any HTTP endpoint (a SIEM, an internal service): the body and its content type unchanged, and, when
 * the sink has a secret, signed again as a Standard Webhook with the same stable id.
 */
import { EVENT_TYPE_HEADER, SEVERITY_HEADER } from '../../connector/webhook/headers.js';
import { createSigner, type StandardSigner, WEBHOOK_ID_HEADER } from '../../connector/webhook/signature-standard.js';
import { targetOf } from '../config/config.js';
import { contentTypeOf, httpCall, outcomeOf } from './http-call.js';
import type { AttemptContext, Sink, SinkMessage, SinkOutcome } from './sink.js';
import type { HttpSinkConfig } from './sink-config.js';

/** A sink that posts each message to one URL. `now` gives the signature's timestamp (tests pin it). */
export function httpSink(config: HttpSinkConfig, now: () => number = Date.now): Sink {
  // Built at the first signed delivery, then reused: the key is parsed once per sink, and a sink that is
  // only listed (a layout-only config load, whose secret is a placeholder) never parses it.
  let signer: StandardSigner | undefined;
  return {
    name: config.name,
    type: 'http',
    target: targetOf(config.url),
    skipReason: () => undefined,
    async deliver(message: SinkMessage, context: AttemptContext): Promise<SinkOutcome> {
      const headers: Record<string, string> = {
        ...config.headers,
        'content-type': contentTypeOf(message.headers),
        [EVENT_TYPE_HEADER]: message.type,
        [WEBHOOK_ID_HEADER]: message.id,
      };
      if (message.severity !== undefined) headers[SEVERITY_HEADER] = message.severity;
      if (config.secret !== undefined) {
        // Signed at send time: a retry a day later is still inside the endpoint's replay window.
        signer ??= createSigner(config.secret);
        Object.assign(headers, signer.headers(message.id, Math.floor(now() / 1000), message.body));
      }
      return outcomeOf(await httpCall(config.url, { headers, body: message.body }, context.signal));
    },
    async close(): Promise<void> {},
  };
}
