/** The receiver's `diagnostics_channel` names and payloads. Payloads hold ids and codes, never bodies or secrets. */
import { typedChannel } from '../../core/channels.js';

/** Names of the channels the receiver's ingest publishes on. */
export const RECEIVER_CHANNELS = Object.freeze({
  /** {@link StoredEvent}: after the commit, before the 200. */
  stored: 'darkhook:receiver:stored',
  /** {@link DuplicateEvent}: every id was already stored; answered 202. */
  duplicate: 'darkhook:receiver:duplicate',
  /** {@link RejectedEvent}: refused with a 4xx or failed with a 5xx. */
  rejected: 'darkhook:receiver:rejected',
  /** {@link IngestedEvent}: per request that stored or repeated messages, counts by route (metrics). */
  ingested: 'darkhook:receiver:ingested',
  /** {@link AnsweredEvent}: any answer to a webhook POST, with the time from request to answer. */
  answered: 'darkhook:receiver:answered',
} as const);

/** Published on `darkhook:receiver:stored`. */
export interface StoredEvent {
  readonly requestId: string;
  readonly caller: string | undefined;
  readonly batch: boolean;
  readonly messages: readonly { readonly id: string; readonly type: string }[];
  readonly duplicates: readonly string[];
}

/** Published on `darkhook:receiver:ingested`. */
export interface IngestedEvent {
  readonly route: string;
  readonly stored: number;
  /** Of `stored`: kept without being forwarded. */
  readonly filtered: number;
  readonly duplicates: number;
}

/** Published on `darkhook:receiver:duplicate`. */
export interface DuplicateEvent {
  readonly requestId: string;
  readonly caller: string | undefined;
  readonly batch: boolean;
  readonly ids: readonly string[];
}

/** Published on `darkhook:receiver:rejected`. */
export interface RejectedEvent {
  readonly requestId: string | undefined;
  readonly caller: string | undefined;
  readonly status: number;
  readonly code: string;
}

/** Published on `darkhook:receiver:answered`. */
export interface AnsweredEvent {
  readonly route: string | undefined;
  readonly status: number;
  /** From the request's first byte to the answer, in milliseconds. */
  readonly durationMs: number;
}

/** The channels themselves, typed by their payloads. */
export const receiverChannels = Object.freeze({
  stored: typedChannel<StoredEvent>(RECEIVER_CHANNELS.stored),
  duplicate: typedChannel<DuplicateEvent>(RECEIVER_CHANNELS.duplicate),
  rejected: typedChannel<RejectedEvent>(RECEIVER_CHANNELS.rejected),
  ingested: typedChannel<IngestedEvent>(RECEIVER_CHANNELS.ingested),
  answered: typedChannel<AnsweredEvent>(RECEIVER_CHANNELS.answered),
});
