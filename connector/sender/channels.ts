/** The sender's `diagnostics_channel` names and payload types. Payloads hold ids, counts and reasons, never bodies or secrets. */
import { typedChannel } from '../../core/channels.js';

/** Names of the `diagnostics_channel` channels the sender publishes on. */
export const SENDER_CHANNELS = Object.freeze({
  /** {@link EnqueuedEvent}: events written to the outbox. */
  enqueued: 'darkhook:sender:enqueued',
  /** {@link FilteredEvent}: an event dropped by the severity filter. */
  filtered: 'darkhook:sender:filtered',
  /** {@link RequestEvent}: a request about to be sent. */
  request: 'darkhook:sender:request',
  /** {@link DeliveredEvent}: the receiver answered 2xx. */
  delivered: 'darkhook:sender:delivered',
  /** {@link RetryEvent}: a retriable failure; the messages are due again after `delayMs`. */
  retry: 'darkhook:sender:retry',
  /** {@link SplitEvent}: a batch refused as too large (413) is sent in halves. */
  split: 'darkhook:sender:split',
  /** {@link ParkedEvent}: the receiver refused the messages for good. */
  parked: 'darkhook:sender:parked',
  /** {@link FatalEvent}: a configuration fault stopped the sender. */
  fatal: 'darkhook:sender:fatal',
} as const);

/** Published on `darkhook:sender:enqueued`. */
export interface EnqueuedEvent {
  readonly ids: readonly string[];
}

/** Published on `darkhook:sender:filtered`. */
export interface FilteredEvent {
  readonly id: string;
  readonly type: string;
  readonly reason: string;
}

/** Published on `darkhook:sender:request`. */
export interface RequestEvent {
  /** The request's `webhook-id` (the event id, or the batch id). */
  readonly requestId: string;
  readonly events: number;
  /** 1 for a first attempt. */
  readonly attempt: number;
}

/** Published on `darkhook:sender:delivered`. */
export interface DeliveredEvent {
  readonly requestId: string;
  readonly ids: readonly string[];
}

/** Published on `darkhook:sender:retry`. */
export interface RetryEvent {
  readonly requestId: string;
  readonly ids: readonly string[];
  readonly attempt: number;
  /** Until the next attempt, in milliseconds. */
  readonly delayMs: number;
  /** `HTTP 503` or `CODE: message`. */
  readonly reason: string;
}

/** Published on `darkhook:sender:split`. */
export interface SplitEvent {
  readonly requestId: string;
  readonly events: number;
  /** The batch size limit from now on. */
  readonly limit: number;
  readonly reason: string;
}

/** Published on `darkhook:sender:parked`. */
export interface ParkedEvent {
  readonly requestId: string;
  readonly ids: readonly string[];
  readonly reason: string;
}

/** Published on `darkhook:sender:fatal`. */
export interface FatalEvent {
  /** The error's code, when it has one. */
  readonly code: unknown;
  readonly message: string;
}

/** The channels themselves, typed by their payloads. */
export const senderChannels = Object.freeze({
  enqueued: typedChannel<EnqueuedEvent>(SENDER_CHANNELS.enqueued),
  filtered: typedChannel<FilteredEvent>(SENDER_CHANNELS.filtered),
  request: typedChannel<RequestEvent>(SENDER_CHANNELS.request),
  delivered: typedChannel<DeliveredEvent>(SENDER_CHANNELS.delivered),
  retry: typedChannel<RetryEvent>(SENDER_CHANNELS.retry),
  split: typedChannel<SplitEvent>(SENDER_CHANNELS.split),
  parked: typedChannel<ParkedEvent>(SENDER_CHANNELS.parked),
  fatal: typedChannel<FatalEvent>(SENDER_CHANNELS.fatal),
});
