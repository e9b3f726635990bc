/** Log lines for the SDK's controller events (HA failover), fed by its diagnostics channel; the SDK itself never logs. */
import { subscribe } from 'node:diagnostics_channel';
import type { Logger } from 'pino';
import { ZITI_CHANNELS, type ControllerEvent } from '../connector/ziti/channels.js';

/** The SDK's channel for controller list changes and failover (`connector/ziti/controller-client.ts`). */
export const ZITI_CONTROLLER_CHANNEL = ZITI_CHANNELS.controller;

let current: Logger | undefined;
let subscribed = false;

/**
 * From now on, log a controller switch at `warn` and an unreachable controller at `info`, on `log`
 * (the latest logger wins: one subscription per process).
 */
export function logControllerEvents(log: Logger): void {
  current = log;
  if (subscribed) return;
  subscribed = true;
  subscribe(ZITI_CONTROLLER_CHANNEL, (m: unknown) => {
    const e = m as ControllerEvent;
    if (e.event === 'switched') current?.warn({ from: e.from, to: e.to }, 'ziti controller switched');
    else if (e.event === 'unavailable') current?.info({ controller: e.controller }, 'ziti controller unreachable');
    else if (e.event === 'list') current?.debug({ controllers: e.controllers }, 'ziti controllers');
  });
}
