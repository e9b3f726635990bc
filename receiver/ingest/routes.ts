/** Routes: which paths are served, who may call each, and where its messages go (resource matching). */
import { SEVERITY_HEADER, TEST_EVENT_TYPE } from '../../connector/webhook/headers.js';
import { isSeverity, type Severity, severityDropReason } from '../../connector/webhook/severity.js';
import type { NewStoredMessage, RoutedMessage } from '../log/types.js';

/** One served path. */
export interface Route {
  /** The exact request path (`/github`); any other path is 404. */
  readonly path: string;
  /** Ziti identity names allowed to call; undefined: any identity the fabric lets dial the service. */
  readonly callers: ReadonlySet<string> | undefined;
  /** Messages below this severity are stored, marked filtered and not forwarded. */
  readonly minSeverity: Severity | undefined;
  /** Sink names its messages are forwarded to. */
  readonly sinks: readonly string[];
}

/** Body bytes looked at for a `severity` field when the sender set no header. */
const MAX_SEVERITY_SCAN_BYTES = 1024 * 1024;

/**
 * A message's severity: the `webhook-severity` header the darkhook sender sets, else a top-level
 * `severity` field of a JSON body (security tools put it there), lower-cased. Undefined otherwise.
 */
export function severityOf(message: Pick<NewStoredMessage, 'headers' | 'body'>): Severity | undefined {
  const header = message.headers[SEVERITY_HEADER]?.trim().toLowerCase();
  if (isSeverity(header)) return header;
  const { body } = message;
  if (body.length === 0 || body.length > MAX_SEVERITY_SCAN_BYTES || body[0] !== 0x7b /* { */) return undefined;
  try {
    const value = (JSON.parse(body.toString('utf8')) as { severity?: unknown }).severity;
    const text = typeof value === 'string' ? value.trim().toLowerCase() : undefined;
    return isSeverity(text) ? text : undefined;
  } catch {
    return undefined;
  }
}

/** Why `caller` may not use `route`, or undefined when it may. */
export function callerRefusal(route: Route, caller: string | undefined): string | undefined {
  if (route.callers === undefined) return undefined;
  if (caller !== undefined && route.callers.has(caller)) return undefined;
  return `${caller === undefined ? 'an unnamed caller' : `identity "${caller}"`} may not call ${route.path}`;
}

/**
 * What the route decides for each verified message: its sinks, or why it is kept without being
 * forwarded (below the route's minimum severity; a connectivity test event). A message without a
 * severity is never filtered by severity: an unclassified alert is not dropped silently.
 */
export function routeMessages(route: Route, messages: readonly NewStoredMessage[]): RoutedMessage[] {
  return messages.map((m) => {
    const severity = severityOf(m);
    const filteredReason = m.type === TEST_EVENT_TYPE ? 'test event (recorded, not forwarded)' : severityDropReason(severity, route.minSeverity);
    return { ...m, route: route.path, severity, sinks: filteredReason === undefined ? route.sinks : [], filteredReason };
  });
}
