/** The receiver's entry point: the sidecar served over a Ziti bind (no TCP listener), or over any connection source. */
import type { FastifyInstance } from 'fastify';
import type { ZitiError } from '../core/index.js';
import type { ZitiListener } from '../connector/ziti/listener.js';
import { RECEIVER_CHANNELS } from './ingest/channels.js';
import { DEFAULT_CLOSE_GRACE_MS, DEFAULT_IDLE_TIMEOUT_MS, type ConnectionSource, zitiSource } from './ingest/source.js';
import type { MessageLog } from './log/message-log.js';
import { openMessageLog, replicaPrefixFor } from './log/open.js';
import { normalizeReceiverOptions, type ReceiverOptions } from './options.js';
import { type RunningSidecar, startSidecar } from './sidecar.js';
import type { SinkWorker } from './sinks/worker.js';

export { DEFAULT_CLOSE_GRACE_MS, DEFAULT_IDLE_TIMEOUT_MS, RECEIVER_CHANNELS };
export type { ReceiverOptions };

/** A running receiver. */
export interface RunningReceiver {
  /** The fastify instance (ready, never listening on a port). */
  readonly app: FastifyInstance;
  /** The Ziti listener the HTTP server is fed from (`undefined` with a custom source); emits `connection`, `state`, `error`. */
  readonly listener: ZitiListener;
  /** The message store (open until `close()`). */
  readonly store: MessageLog;
  /** One delivery worker per sink. */
  readonly workers: ReadonlyMap<string, SinkWorker>;
  /** The admin listener's address, when configured. */
  readonly adminAddress: { host: string; port: number } | undefined;
  /** Deliveries that were in flight at the last stop and are sent again (possible duplicates). */
  readonly recoveredInflight: number;
  /** Unbind, let requests in flight finish (briefly), stop the workers, close connections, fastify and the store. Idempotent. */
  close(): Promise<void>;
}

/**
 * Start a receiver: open the store, bind `service` with `ziti` (or take `source`), and serve HTTP
 * over the accepted connections only — no TCP port is opened. Each POST to a route is checked in
 * order: caller identity allowed (403), signature (401), timestamp window (401), id not seen (202
 * when every id is a duplicate), then stored durably with one delivery per sink of the route, and
 * only then answered 200. A malformed envelope is 400, a body over `maxBodyBytes` 413. Workers
 * deliver from the store afterwards. Resolves once the service is bound. The Ziti context stays
 * the caller's to close.
 *
 * @throws {OptionError} ERR_OPTION_UNKNOWN, ERR_OPTION_INVALID (synchronously)
 * @throws {WebhookError} ERR_WEBHOOK_SECRET_INVALID (synchronously)
 * @throws {ReceiverError} ERR_RECEIVER_STORE_FAILED
 * @throws {ZitiError} ERR_ZITI_SERVICE_NOT_FOUND, ERR_ZITI_SERVICE_NOT_PERMITTED, ERR_ZITI_UNAUTHORIZED
 * @example
 * const ziti = await ZitiContext.fromFile('receiver.json');
 * const receiver = await startReceiver({ ziti, service: 'jenkins-hooks', secrets: [process.env.DARKHOOK_SECRET!],
 *   allowedCallers: ['ci-sender'], storePath: '/var/lib/darkhook/receiver.db' });
 * // …
 * await receiver.close();
 * await ziti.close();
 */
export function startReceiver(options: ReceiverOptions): Promise<RunningReceiver> {
  const { options: o, secrets } = normalizeReceiverOptions(options);
  return (async () => {
    const log = o.logger.child(o.service === undefined ? {} : { service: o.service });
    // The store first: a store that cannot be opened (unreachable, login refused) binds nothing.
    // On PostgreSQL, replicas of this host and service hold numbered slots, so one restarted after a
    // crash takes back what it had in flight at once rather than after the lease (SQLite: one writer).
    const store = o.store ?? (await openMessageLog(o.storePath, {
      ...(o.storeLeaseMs === undefined ? {} : { leaseMs: o.storeLeaseMs }),
      replicaPrefix: replicaPrefixFor(o.service),
    }));
    let listener: ZitiListener | undefined;
    let source: ConnectionSource;
    if (o.source !== undefined) {
      source = o.source;
    } else {
      try {
        listener = o.ziti!.listen(o.service!);
      } catch (err) {
        await store.close();
        throw err;
      }
      listener.on('state', (s) => {
        if (s.type === 'disconnected') log.info({ code: s.error.code }, 'unbound; re-binding');
        else if (s.type === 'connected') log.info({ router: s.router }, 'bound');
      });
      listener.on('error', (err: ZitiError) => log.error({ err, code: err.code }, 'listener stopped'));
      source = zitiSource(listener);
    }
    let sidecar: RunningSidecar;
    try {
      sidecar = await startSidecar({
        source,
        storePath: o.storePath,
        store,
        secrets,
        toleranceSeconds: o.toleranceSeconds,
        maxBodyBytes: o.maxBodyBytes,
        routes: o.routes,
        sinks: o.sinks,
        ...(o.createSink === undefined ? {} : { createSink: o.createSink }),
        retentionDays: o.retentionDays,
        admin: o.admin,
        logger: log,
        now: o.now,
        ...(o.worker === undefined ? {} : { worker: o.worker }),
        ...(o.serve === undefined ? {} : { serve: o.serve }),
      });
    } catch (err) {
      await listener?.close();
      throw err;
    }
    return Object.freeze({
      app: sidecar.app,
      listener: listener as ZitiListener,
      store: sidecar.store,
      workers: sidecar.workers,
      adminAddress: sidecar.adminAddress,
      recoveredInflight: sidecar.recoveredInflight,
      close: () => sidecar.close(),
    });
  })();
}
