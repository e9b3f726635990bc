/** The message log's records: messages, their deliveries per sink, attempts, sink states, refusals. */
import type { Severity } from '../../connector/webhook/severity.js';

/** A message's summary status, kept in step with its deliveries. */
export const MESSAGE_STATUSES = ['stored', 'pending', 'delivered', 'dead', 'filtered'] as const;
/** One message status: `stored` (no sink on its route), `pending` (a delivery not finished), `delivered`, `dead` (a delivery gave up), `filtered` (below the route's severity, a test event, or skipped by every sink). */
export type MessageStatus = (typeof MESSAGE_STATUSES)[number];

/** The states of one delivery of a message to one sink. */
export const DELIVERY_STATES = ['pending', 'inflight', 'delivered', 'dead', 'skipped'] as const;
/** One delivery state. */
export type DeliveryState = (typeof DELIVERY_STATES)[number];

/** A message to store. */
export interface NewStoredMessage {
  /** The message id (`webhook-id`, or the event's id inside a batch). */
  readonly id: string;
  /** Event type (`webhook-event-type`, or the batch event's `type`). */
  readonly type: string;
  /** Seconds since the epoch: the event's time in a batch, the request's `webhook-timestamp` otherwise. */
  readonly timestamp: number;
  /** The body bytes exactly as received (a batch event's decoded body). */
  readonly body: Buffer;
  /** Headers to replay downstream (content type, event headers); never credentials. */
  readonly headers: Readonly<Record<string, string>>;
  /** The dialing Ziti identity's name, when the router named it. */
  readonly caller: string | undefined;
  /** The batch's `webhook-id` when the message came in a batch. */
  readonly batchId: string | undefined;
}

/** A message with what the route decided: where it goes, or why it goes nowhere. */
export interface RoutedMessage extends NewStoredMessage {
  readonly route: string;
  readonly severity: Severity | undefined;
  /** Sinks to deliver to (one delivery row each, in the same transaction as the message). */
  readonly sinks: readonly string[];
  /** Set when the message is kept but not forwarded (below the route's minimum severity, a test event). */
  readonly filteredReason: string | undefined;
}

/** A stored message. */
export interface StoredMessage extends NewStoredMessage {
  /** When the receiver committed it, in milliseconds since the epoch. */
  readonly receivedAt: number;
  readonly route: string | undefined;
  readonly severity: Severity | undefined;
  readonly status: MessageStatus;
  readonly filteredReason: string | undefined;
}

/** One delivery of a message to a sink. */
export interface Delivery {
  readonly id: number;
  readonly messageId: string;
  readonly sink: string;
  readonly state: DeliveryState;
  readonly attempts: number;
  readonly nextAttemptAt: number;
  readonly deadlineAt: number;
  readonly lastStatus: number | undefined;
  readonly lastError: string | undefined;
  readonly updatedAt: number;
  readonly deliveredAt: number | undefined;
  /** An attempt was in flight when the receiver stopped: the sink may have it already. */
  readonly possibleDuplicate: boolean;
}

/** One attempt of a delivery. */
export interface Attempt {
  readonly deliveryId: number;
  readonly startedAt: number;
  readonly durationMs: number;
  /** The sink outcome's type (`delivered`, `retry`, `failed`, `disable`, `skipped`), or `expired`. */
  readonly outcome: string;
  readonly status: number | undefined;
  readonly error: string | undefined;
}

/** A sink's state as operators set it (or a 401/403 did). */
export interface SinkState {
  readonly name: string;
  readonly state: 'active' | 'disabled';
  readonly reason: string | undefined;
  readonly changedAt: number;
}

/** A request the receiver refused (kept for the log, without its body). */
export interface Rejection {
  readonly at: number;
  readonly requestId: string | undefined;
  readonly caller: string | undefined;
  readonly route: string | undefined;
  readonly status: number;
  readonly code: string;
}

/** Filters of `MessageStore.query` (all optional, combined with AND). */
export interface MessageQuery {
  /** Received at or after, ms since the epoch. */
  readonly since?: number;
  /** Received before, ms since the epoch. */
  readonly until?: number;
  readonly status?: MessageStatus;
  readonly route?: string;
  /** Messages with a delivery to this sink. */
  readonly sink?: string;
  readonly type?: string;
  /** Messages whose id starts with this text. */
  readonly idPrefix?: string;
  /** Newest first, at most this many; default 100, at most 1,000. */
  readonly limit?: number;
  /** Paging cursor: only messages older than the one with this sequence number (see `seq`). */
  readonly beforeSeq?: number;
  /** Paging cursor for oldest-first lists: only messages newer than this sequence number. */
  readonly afterSeq?: number;
  /** `desc` (newest first, the default) or `asc` (arrival order). */
  readonly order?: 'asc' | 'desc';
}

/** A row of a message list: everything but the body. */
export interface MessageSummary {
  /** The store's arrival sequence number (a paging cursor). */
  readonly seq: number;
  readonly id: string;
  readonly type: string;
  readonly route: string | undefined;
  readonly caller: string | undefined;
  readonly severity: Severity | undefined;
  readonly status: MessageStatus;
  readonly bytes: number;
  readonly receivedAt: number;
  readonly batchId: string | undefined;
}

/** A work item handed to a sink worker. */
export interface DeliveryJob {
  readonly delivery: Delivery;
  readonly message: StoredMessage;
}
