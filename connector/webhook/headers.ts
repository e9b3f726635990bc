/** Names the sender and the receiver share: the event-type header and the default request path. */

/** Header that carries the event type of a single (non-batch) webhook; a batch has `events[].type`. */
export const EVENT_TYPE_HEADER = 'webhook-event-type';

/** Where webhooks are POSTed and served unless configured otherwise. */
export const DEFAULT_WEBHOOK_PATH = '/webhooks';

/**
 * Header that carries an event's severity (`low` … `critical`), set by the darkhook sender. Inside a
 * batch it is one of the event's signed headers; the receiver's routes filter on it.
 */
export const SEVERITY_HEADER = 'webhook-severity';

/** Event type of the connectivity test event (`darkhook send --test`, `darkhook sinks test`). */
export const TEST_EVENT_TYPE = 'darkhook.test';
