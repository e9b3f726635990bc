/** The sink workers' `diagnostics_channel` names and payload types (the metrics are fed from these). */
import { typedChannel } from '../../core/channels.js';
import type { SinkOutcome } from './sink.js';

/** Names of the channels sink workers publish on. */
export const SINK_CHANNELS = Object.freeze({
  /** {@link AttemptEvent}: after each attempt is recorded. */
  attempt: 'darkhook:sinks:attempt',
  /** {@link SinkStateEvent}: a sink was disabled (401/403), its circuit opened or closed, or it was paused by a 429. */
  state: 'darkhook:sinks:state',
  /** {@link QueueEvent}: the sink's queue after each poll. */
  queue: 'darkhook:sinks:queue',
} as const);

/** Published on `darkhook:sinks:attempt`. */
export interface AttemptEvent {
  readonly sink: string;
  readonly messageId: string;
  readonly attempt: number;
  /** The sink outcome's type, or `expired` (past its deadline before the attempt). */
  readonly outcome: SinkOutcome['type'] | 'expired';
  /** The delivery's state after it: `dead` when this attempt made it give up. */
  readonly state: string;
  readonly status: number | undefined;
  readonly durationMs: number;
  readonly possibleDuplicate: boolean;
}

/** Published on `darkhook:sinks:state`. */
export interface SinkStateEvent {
  readonly sink: string;
  readonly state: 'disabled' | 'enabled' | 'circuit-open' | 'circuit-closed' | 'paused';
  readonly reason: string;
  /** For `paused` and `circuit-open`: until when, ms since the epoch. */
  readonly until?: number;
  /** For `disabled` by the sink's own answer (401/403): its HTTP status; absent when an operator disabled it (seen in the store). */
  readonly status?: number;
}

/** Published on `darkhook:sinks:queue`. */
export interface QueueEvent {
  readonly sink: string;
  readonly inflight: number;
  /** Deliveries waiting (pending, due or not). */
  readonly pending: number;
  /** When the next pending delivery is due (ms since the epoch), or undefined when none waits. */
  readonly nextDueAt: number | undefined;
}

/** The channels themselves, typed by their payloads. */
export const sinkChannels = Object.freeze({
  attempt: typedChannel<AttemptEvent>(SINK_CHANNELS.attempt),
  state: typedChannel<SinkStateEvent>(SINK_CHANNELS.state),
  queue: typedChannel<QueueEvent>(SINK_CHANNELS.queue),
});
