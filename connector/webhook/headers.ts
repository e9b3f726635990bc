/** Names the sender and the receiver share: the event-type header and the default request path. */

/** Header that carries the event type of a single (non-batch) webhook; a batch has `events[].type`. */
export const EVENT_TYPE_HEADER = 'webhook-event-type';

/** Where webhooks are POSTed and served unless configured otherwise. */
export const DEFAULT_WEBHOOK_PATH = '/webhooks';
