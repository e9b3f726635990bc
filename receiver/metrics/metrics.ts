/** Prometheus metrics of the sidecar, fed only by the receiver's and the sinks' diagnostics channels. */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { type AnsweredEvent, type IngestedEvent, RECEIVER_CHANNELS, type RejectedEvent } from '../ingest/channels.js';
import { type AttemptEvent, type QueueEvent, SINK_CHANNELS, type SinkStateEvent } from '../sinks/channels.js';

/** A registry with the sidecar's metrics, subscribed until `close()`. */
export interface SidecarMetrics {
  readonly registry: Registry;
  /** Set a sink's state gauge (at start, from the store; on enable/disable from the admin API). */
  setSinkActive(sink: string, active: boolean): void;
  close(): void;
}

/** Ack latency buckets, in seconds: the goal is p99 ≤ 50 ms. */
const ACK_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** Create the metrics and subscribe them to the channels. */
export function createMetrics(sinks: readonly string[]): SidecarMetrics {
  const registry = new Registry();
  const m = {
    requests: new Counter({ name: 'darkhook_requests_total', help: 'Webhook requests answered, by route and HTTP status', labelNames: ['route', 'status'], registers: [registry] }),
    rejected: new Counter({ name: 'darkhook_rejected_total', help: 'Requests refused or failed, by error code', labelNames: ['code', 'status'], registers: [registry] }),
    stored: new Counter({ name: 'darkhook_messages_stored_total', help: 'Messages stored (committed), by route', labelNames: ['route'], registers: [registry] }),
    filtered: new Counter({ name: 'darkhook_messages_filtered_total', help: 'Messages stored but not forwarded (below the route severity, test events)', labelNames: ['route'], registers: [registry] }),
    duplicates: new Counter({ name: 'darkhook_messages_duplicate_total', help: 'Messages received again (already stored; answered 202 or counted in a batch)', labelNames: ['route'], registers: [registry] }),
    ack: new Histogram({ name: 'darkhook_ack_seconds', help: 'Time from request to answer of webhook POSTs', labelNames: ['route'], buckets: ACK_BUCKETS, registers: [registry] }),
    attempts: new Counter({ name: 'darkhook_delivery_attempts_total', help: 'Delivery attempts, by sink and outcome', labelNames: ['sink', 'outcome'], registers: [registry] }),
    retries: new Counter({ name: 'darkhook_delivery_retries_total', help: 'Attempts that will be retried, by sink', labelNames: ['sink'], registers: [registry] }),
    dead: new Counter({ name: 'darkhook_deliveries_dead_total', help: 'Deliveries that gave up (dead: kept and resubmittable), by sink', labelNames: ['sink'], registers: [registry] }),
    delivered: new Counter({ name: 'darkhook_deliveries_delivered_total', help: 'Deliveries acknowledged by their sink', labelNames: ['sink'], registers: [registry] }),
    possibleDuplicates: new Counter({ name: 'darkhook_deliveries_possible_duplicate_total', help: 'Attempts of deliveries that were in flight at a crash', labelNames: ['sink'], registers: [registry] }),
    duration: new Histogram({ name: 'darkhook_delivery_seconds', help: 'Duration of delivery attempts, by sink', labelNames: ['sink'], buckets: ACK_BUCKETS, registers: [registry] }),
    queue: new Gauge({ name: 'darkhook_queue_depth', help: 'Deliveries waiting per sink', labelNames: ['sink'], registers: [registry] }),
    inflight: new Gauge({ name: 'darkhook_queue_inflight', help: 'Attempts in flight per sink', labelNames: ['sink'], registers: [registry] }),
    active: new Gauge({ name: 'darkhook_sink_active', help: '1 when the sink is enabled, 0 when disabled (by an operator or a 401/403)', labelNames: ['sink'], registers: [registry] }),
    circuit: new Gauge({ name: 'darkhook_sink_circuit_open', help: '1 while the sink circuit is open', labelNames: ['sink'], registers: [registry] }),
  };
  for (const sink of sinks) {
    m.active.set({ sink }, 1);
    m.circuit.set({ sink }, 0);
    m.queue.set({ sink }, 0);
    m.inflight.set({ sink }, 0);
  }
  const handlers: [string, (msg: unknown) => void][] = [
    [RECEIVER_CHANNELS.answered, (e) => {
      const a = e as AnsweredEvent;
      const route = a.route ?? 'none';
      m.requests.inc({ route, status: String(a.status) });
      m.ack.observe({ route }, a.durationMs / 1000);
    }],
    [RECEIVER_CHANNELS.rejected, (e) => {
      const r = e as RejectedEvent;
      m.rejected.inc({ code: r.code, status: String(r.status) });
    }],
    [RECEIVER_CHANNELS.ingested, (e) => {
      const s = e as IngestedEvent;
      if (s.stored > 0) m.stored.inc({ route: s.route }, s.stored);
      if (s.filtered > 0) m.filtered.inc({ route: s.route }, s.filtered);
      if (s.duplicates > 0) m.duplicates.inc({ route: s.route }, s.duplicates);
    }],
    [SINK_CHANNELS.attempt, (e) => {
      const a = e as AttemptEvent;
      m.attempts.inc({ sink: a.sink, outcome: a.outcome });
      m.duration.observe({ sink: a.sink }, a.durationMs / 1000);
      if (a.state === 'pending' && a.outcome === 'retry') m.retries.inc({ sink: a.sink });
      if (a.state === 'dead') m.dead.inc({ sink: a.sink });
      if (a.state === 'delivered') m.delivered.inc({ sink: a.sink });
      if (a.possibleDuplicate) m.possibleDuplicates.inc({ sink: a.sink });
    }],
    [SINK_CHANNELS.queue, (e) => {
      const q = e as QueueEvent;
      m.queue.set({ sink: q.sink }, q.pending);
      m.inflight.set({ sink: q.sink }, q.inflight);
    }],
    [SINK_CHANNELS.state, (e) => {
      const s = e as SinkStateEvent;
      if (s.state === 'disabled') m.active.set({ sink: s.sink }, 0);
      if (s.state === 'enabled') m.active.set({ sink: s.sink }, 1);
      if (s.state === 'circuit-open') m.circuit.set({ sink: s.sink }, 1);
      if (s.state === 'circuit-closed') m.circuit.set({ sink: s.sink }, 0);
    }],
  ];
  for (const [name, fn] of handlers) subscribe(name, fn);
  return {
    registry,
    setSinkActive: (sink, active) => m.active.set({ sink }, active ? 1 : 0),
    close: () => {
      for (const [name, fn] of handlers) unsubscribe(name, fn);
    },
  };
}
