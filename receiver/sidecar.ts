/** The sidecar's wiring: store → webhook app on a connection source → sink workers → retention → admin listener. */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import http from 'node:http';
import type { FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import type { AdminConfig } from './config/config.js';
import { buildWebhookApp } from './ingest/plugin.js';
import type { Route } from './ingest/routes.js';
import { type ConnectionServer, type ConnectionSource, serveConnections, type ServeOptions } from './ingest/source.js';
import type { MessageLog } from './log/message-log.js';
import { openMessageLog } from './log/open.js';
import { STORE_POOL_ERROR_CHANNEL } from './log/pg-log.js';
import { type RetentionHandle, startRetention } from './log/retention.js';
import type { Sink } from './sinks/sink.js';
import type { SinkConfig } from './sinks/sink-config.js';
import { SINK_CHANNELS, type SinkStateEvent, SinkWorker, type WorkerOptions } from './sinks/worker.js';

/** What a sidecar needs (a `ReceiverConfig` plus the pieces a process supplies). */
export interface SidecarOptions {
  readonly source: ConnectionSource;
  /** A SQLite file path, or a `postgres://` URL (its password as an `env:`/`file:` reference). */
  readonly storePath: string;
  /** The store already opened from `storePath` (the sidecar closes it); opened here when absent. */
  readonly store?: MessageLog;
  readonly secrets: readonly string[];
  readonly toleranceSeconds: number;
  readonly maxBodyBytes: number;
  readonly routes: readonly Route[];
  readonly sinks: readonly SinkConfig[];
  /** Builds each sink from its settings (`createSink` of `receiver/sinks/registry.ts`). */
  readonly createSink?: (config: SinkConfig) => Sink;
  readonly retentionDays?: number;
  readonly admin?: AdminConfig | undefined;
  readonly logger?: Logger;
  readonly now?: () => number;
  readonly worker?: WorkerOptions;
  readonly serve?: ServeOptions;
}

/** A running sidecar. */
export interface RunningSidecar {
  /** The webhook app (ready; never listening on a port). */
  readonly app: FastifyInstance;
  readonly store: MessageLog;
  readonly server: ConnectionServer;
  readonly workers: ReadonlyMap<string, SinkWorker>;
  /** Deliveries found in flight at start (possible duplicates, retried). */
  readonly recoveredInflight: number;
  /** The admin listener's address, when configured. */
  readonly adminAddress: { host: string; port: number } | undefined;
  /** Stop accepting, finish requests in flight (briefly), stop the workers, close the admin listener and the store. Idempotent. */
  close(): Promise<void>;
}

/**
 * Start the sidecar: open (or migrate) the store, put deliveries left in flight by a crash back in
 * the queue, start one worker per sink, serve the webhook routes on the connection source, run
 * retention, and open the loopback admin listener when configured. Resolves once the source is
 * accepting (the Ziti service is bound).
 */
export async function startSidecar(o: SidecarOptions): Promise<RunningSidecar> {
  const log = o.logger ?? pino({ enabled: false });
  const now = o.now ?? Date.now;
  const store = o.store ?? (await openMessageLog(o.storePath));
  const cleanups: (() => Promise<void> | void)[] = [() => store.close()];
  // The PostgreSQL pool reports idle connections it lost (a server restart); the next query reconnects.
  const onPoolError = (e: unknown): void => log.warn({ store: store.location, code: (e as { code?: unknown }).code }, 'store connection lost');
  subscribe(STORE_POOL_ERROR_CHANNEL, onPoolError);
  cleanups.push(() => {
    unsubscribe(STORE_POOL_ERROR_CHANNEL, onPoolError);
  });
  const cleanup = async (): Promise<void> => {
    for (const fn of cleanups.reverse()) await fn();
  };
  try {
    const recoveredInflight = await store.recoverInflight(now());
    if (recoveredInflight > 0) log.warn({ deliveries: recoveredInflight }, 'deliveries were in flight at the last stop; sending again (possible duplicates)');

    const workers = new Map<string, SinkWorker>();
    if (o.sinks.length > 0 && o.createSink === undefined) throw new TypeError('startSidecar: sinks need createSink');
    for (const config of o.sinks) {
      const sink = o.createSink!(config);
      workers.set(config.name, new SinkWorker(sink, config, store, { now, ...o.worker }));
    }
    cleanups.push(async () => {
      await Promise.allSettled([...workers.values()].map((w) => w.stop()));
      await Promise.allSettled([...workers.values()].map((w) => w.sink.close()));
    });
    // The alert: a sink that refused its credentials stops delivering until an operator acts, so
    // it is an error line (with the metric and `darkhook sinks list`), never a silent pause.
    const onSinkState = (e: unknown): void => {
      const s = e as SinkStateEvent;
      if (!workers.has(s.sink)) return;
      const fields = { sink: s.sink, state: s.state, reason: s.reason, ...(s.until === undefined ? {} : { until: new Date(s.until).toISOString() }) };
      if (s.state === 'disabled' && s.status !== undefined) log.error({ ...fields, status: s.status }, 'sink disabled: credentials refused');
      else if (s.state === 'disabled' || s.state === 'circuit-open') log.warn(fields, s.state === 'disabled' ? 'sink disabled' : 'sink circuit open');
      else if (s.state === 'enabled' || s.state === 'circuit-closed') log.info(fields, s.state === 'enabled' ? 'sink enabled' : 'sink circuit closed');
    };
    subscribe(SINK_CHANNELS.state, onSinkState);
    cleanups.push(() => void unsubscribe(SINK_CHANNELS.state, onSinkState));
    for (const w of workers.values()) w.start();

    const deadlines = new Map(o.sinks.map((s) => [s.name, s.deadlineMs]));
    const state = { closing: false };
    const httpServer = http.createServer();
    const server = serveConnections(httpServer, {
      onConnectionError: (err, caller) => log.info({ caller, code: (err as { code?: unknown }).code }, 'connection error'),
      ...o.serve,
    });
    const app = buildWebhookApp({
      routes: o.routes,
      secrets: o.secrets,
      toleranceSeconds: o.toleranceSeconds,
      maxBodyBytes: o.maxBodyBytes,
      store,
      log,
      callerOf: (socket) => server.callerOf(socket),
      deadlines,
      onDeliveries: (sinks) => {
        for (const name of sinks) workers.get(name)?.wake();
      },
      serverFactory: (handler) => {
        httpServer.on('request', handler);
        return httpServer;
      },
      closing: () => state.closing,
    });
    await app.ready();
    cleanups.push(() => app.close());

    const retention: RetentionHandle = startRetention(store, { days: o.retentionDays ?? 7, now, log });
    cleanups.push(() => retention.stop());

    let adminAddress: { host: string; port: number } | undefined;
    if (o.admin !== undefined) {
      const { startAdmin } = await import('./admin/server.js');
      const admin = await startAdmin({ config: o.admin, store, workers, sinks: o.sinks, log, now, deadlines });
      adminAddress = admin.address;
      cleanups.push(() => admin.close());
    }

    await server.start(o.source);
    cleanups.push(() => server.close());
    log.info({ routes: o.routes.map((r) => r.path), sinks: [...workers.keys()], store: store.location, admin: adminAddress ?? null }, 'receiving');

    let closing: Promise<void> | undefined;
    return Object.freeze({
      app,
      store,
      server,
      workers,
      recoveredInflight,
      adminAddress,
      close: () => {
        closing ??= (async () => {
          state.closing = true;
          await cleanup();
          log.info({}, 'receiver closed');
        })();
        return closing;
      },
    });
  } catch (err) {
    await cleanup();
    throw err;
  }
}
