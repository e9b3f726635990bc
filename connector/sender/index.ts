/** Public entry of the sender: outbox, transport and the batching sender. Explicit exports only. */
export { EVENT_TYPE_HEADER } from './event.js';
export type { JsonValue, SenderEvent } from './event.js';
export { BATCH_ID_PREFIX, batchIdFor, MESSAGE_ID_PREFIX, newMessageId } from './ids.js';
export { defaultOutboxPath, openOutbox } from './open-outbox.js';
export {
  DEFAULT_BATCH_MAX_EVENTS,
  DEFAULT_BATCH_MAX_WAIT_MS,
  DEFAULT_DEADLINE_MS,
  DEFAULT_RETRY_MAX_DELAY_MS,
  DEFAULT_RETRY_MIN_DELAY_MS,
  normalizeSenderOptions,
} from './options.js';
export type { NormalizedSenderOptions, SenderOptions } from './options.js';
export { MAX_REASON_CHARS } from './outbox.js';
export type { NewOutboxMessage, Outbox, OutboxCounts, OutboxHead, OutboxMessage, OutboxState } from './outbox.js';
export { FileOutbox } from './outbox-file.js';
export { backoffDelay, classifyError, classifyResponse, parseRetryAfter } from './retry.js';
export type { Outcome } from './retry.js';
export { SENDER_CHANNELS } from './channels.js';
export type { DeliveredEvent, EnqueuedEvent, FatalEvent, FilteredEvent, ParkedEvent, RequestEvent, RetryEvent, SplitEvent } from './channels.js';
export { createSender } from './sender.js';
export type { FlushReport, Sender, SendResult } from './sender.js';
export { isSeverity, SEVERITIES } from '../webhook/severity.js';
export type { Severity } from '../webhook/severity.js';
export { createTransport, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_REQUEST_TIMEOUT_MS, DEFAULT_WEBHOOK_PATH } from './transport.js';
export type { Connect, Transport, TransportOptions, TransportResponse } from './transport.js';
export { sendTestEvent, TEST_EVENT_TYPE } from './test-event.js';
export type { TestEventOptions, TestEventResult } from './test-event.js';
