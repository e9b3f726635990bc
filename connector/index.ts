/** Public entry of the darkhook library: webhook signature schemes, key material and the batch envelope. */

// Webhook formats shared by sender and receiver.
export {
  BATCH_BINARY_CONTENT_TYPE,
  BATCH_CONTENT_TYPE,
  BATCH_ENVELOPE_VERSION,
  batchFormatOf,
  DEFAULT_BATCH_FORMAT,
  DEFAULT_MAX_BATCH_BYTES,
  DEFAULT_MAX_BATCH_EVENTS,
  decodeBatch,
  encodeBatch,
} from './webhook/batch-envelope.js';
export type { BatchEvent, BatchFormat, DecodeBatchLimits, EncodeBatchOptions } from './webhook/batch-envelope.js';
export { constantTimeEqual } from '../core/constant-time.js';
export {
  GENERATED_HMAC_SECRET_BYTES,
  generateEd25519Keys,
  generateHmacSecret,
  HMAC_SECRET_PREFIX,
  MIN_HMAC_SECRET_BYTES,
  PUBLIC_KEY_PREFIX,
  parseHmacSecret,
  parsePublicKey,
  parseSigningKey,
  parseWebhookSecret,
  publicKeyOf,
  SIGNING_KEY_PREFIX,
} from './webhook/secrets.js';
export type { Ed25519KeyStrings, WebhookKey } from './webhook/secrets.js';
export { GITHUB_SIGNATURE_HEADER, signGithub, verifyGithub } from './webhook/signature-github.js';
export {
  createSigner,
  createVerifier,
  DEFAULT_TOLERANCE_SECONDS,
  MAX_SIGNATURES_PER_HEADER,
  parseWebhookTimestamp,
  signStandard,
  verifyStandard,
  WEBHOOK_ID_HEADER,
  WEBHOOK_SIGNATURE_HEADER,
  WEBHOOK_TIMESTAMP_HEADER,
} from './webhook/signature-standard.js';
export type {
  SignedHeaders,
  SignStandardInput,
  StandardSigner,
  StandardVerifier,
  VerifierOptions,
  VerifyRequestHeaders,
  VerifyStandardInput,
} from './webhook/signature-standard.js';

// The sender: durable outbox, batching, retries (connector/sender).
export {
  createSender,
  createTransport,
  DEFAULT_BATCH_MAX_EVENTS,
  DEFAULT_BATCH_MAX_WAIT_MS,
  DEFAULT_DEADLINE_MS,
  DEFAULT_MAX_RESPONSE_BYTES,
  DEFAULT_REQUEST_TIMEOUT_MS,
  DEFAULT_RETRY_MAX_DELAY_MS,
  DEFAULT_RETRY_MIN_DELAY_MS,
  DEFAULT_WEBHOOK_PATH,
  defaultOutboxPath,
  EVENT_TYPE_HEADER,
  FileOutbox,
  newMessageId,
  openOutbox,
  SENDER_CHANNELS,
  sendTestEvent,
  SEVERITIES,
  TEST_EVENT_TYPE,
} from './sender/index.js';
export type {
  Connect,
  DeliveredEvent,
  EnqueuedEvent,
  FatalEvent,
  FilteredEvent,
  FlushReport,
  NewOutboxMessage,
  Outbox,
  OutboxCounts,
  OutboxMessage,
  OutboxState,
  ParkedEvent,
  RequestEvent,
  RetryEvent,
  Sender,
  SenderEvent,
  SenderOptions,
  SendResult,
  Severity,
  SplitEvent,
  TestEventOptions,
  TestEventResult,
  Transport,
} from './sender/index.js';
