/** Operations on the message log shared by the CLI (another process) and the admin API: sink overview, test messages, resubmits. */
import { randomUUID } from 'node:crypto';
import { TEST_EVENT_TYPE } from '../../connector/webhook/headers.js';
import { ReceiverError } from '../../core/index.js';
import type { MessageLog } from './message-log.js';
import type { DeliveryState } from './types.js';

/** One sink as `darkhook sinks list` and the admin page show it. */
export interface SinkOverview {
  readonly name: string;
  readonly type: string;
  readonly target: string;
  readonly state: 'active' | 'disabled';
  readonly reason: string | undefined;
  readonly changedAt: number | undefined;
  readonly deliveries: Partial<Record<DeliveryState, number>>;
  readonly lastError: { readonly at: number; readonly error: string } | undefined;
}

/** Every configured sink with its state, queue and last error. */
export async function sinkOverview(store: MessageLog, sinks: readonly { readonly name: string; readonly type: string; readonly target: string }[]): Promise<SinkOverview[]> {
  const states = new Map((await store.sinkStates()).map((s) => [s.name, s]));
  const counts = await store.deliveryCounts();
  const errors = await store.lastErrors();
  return sinks.map((s) => {
    const st = states.get(s.name);
    return {
      name: s.name,
      type: s.type,
      target: s.target,
      state: st?.state ?? 'active',
      reason: st?.reason,
      changedAt: st?.changedAt,
      deliveries: counts[s.name] ?? {},
      lastError: errors[s.name],
    };
  });
}

/** Throw unless `name` is one of `sinks`. @throws {ReceiverError} ERR_RECEIVER_SINK_UNKNOWN (400) */
export function checkSinkName(name: string, sinks: readonly { readonly name: string }[]): void {
  if (!sinks.some((s) => s.name === name)) {
    throw new ReceiverError('ERR_RECEIVER_SINK_UNKNOWN', `no sink "${name}" in the receiver config (known: ${sinks.map((s) => s.name).join(', ') || 'none'})`, { statusCode: 400 });
  }
}

/**
 * Queue a test message for one sink (the "test integration" button): stored as a `darkhook.test`
 * event with one delivery, which the running receiver sends at its next poll. Returns its id.
 */
export async function enqueueTestMessage(store: MessageLog, sink: string, now: number, deadlineMs: number): Promise<string> {
  const id = `msg_test_${randomUUID().replaceAll('-', '')}`;
  const body = Buffer.from(JSON.stringify({ type: TEST_EVENT_TYPE, title: `darkhook test message for sink ${sink}`, severity: 'low', sentAt: new Date(now).toISOString() }));
  await store.ingest(
    [{ id, type: TEST_EVENT_TYPE, timestamp: Math.floor(now / 1000), body, headers: { 'content-type': 'application/json' }, caller: undefined, batchId: undefined, route: '', severity: 'low', sinks: [sink], filteredReason: undefined }],
    now,
    new Map([[sink, deadlineMs]]),
  );
  return id;
}
