/** The message-list filters of the admin API, from a query string, with a coded 400 for each bad one. */
import { parseSince } from '../../core/duration.js';
import { ReceiverError } from '../../core/index.js';
import { MAX_QUERY_LIMIT } from '../log/store.js';
import { MESSAGE_STATUSES, type MessageQuery, type MessageStatus } from '../log/types.js';

const KEYS = ['since', 'until', 'status', 'route', 'sink', 'type', 'id', 'limit', 'before', 'after'];

function bad(message: string): ReceiverError {
  return new ReceiverError('ERR_RECEIVER_REQUEST_INVALID', message, { statusCode: 400 });
}

/**
 * `since`/`until` (a duration back, `24h`, or an ISO date), `status`, `route`, `sink`, `type`,
 * `id` (a prefix), `limit` (1–1,000), `before` (a paging cursor from `next`: older messages) or
 * `after` (a cursor from `prev`: newer messages, still listed newest first by the caller).
 *
 * @throws {ReceiverError} ERR_RECEIVER_REQUEST_INVALID (400) naming the parameter
 */
export function parseMessageQuery(raw: Record<string, unknown>, now: number): MessageQuery {
  const q: { -readonly [K in keyof MessageQuery]: MessageQuery[K] } = {};
  for (const [key, value] of Object.entries(raw)) {
    if (!KEYS.includes(key)) throw bad(`unknown filter "${key}"`);
    if (typeof value !== 'string') throw bad(`filter "${key}" is given more than once`);
    if (value === '') continue;
    switch (key) {
      case 'since':
      case 'until': {
        const at = parseSince(value, now);
        if (at === undefined) throw bad(`${key} must be a duration (24h, 7d) or an ISO date`);
        q[key] = at;
        break;
      }
      case 'status':
        if (!(MESSAGE_STATUSES as readonly string[]).includes(value)) throw bad(`status must be one of ${MESSAGE_STATUSES.join(', ')}`);
        q.status = value as MessageStatus;
        break;
      case 'limit':
      case 'before':
      case 'after': {
        const n = /^\d{1,15}$/.test(value) ? Number(value) : NaN;
        if (key === 'limit' && !(n >= 1 && n <= MAX_QUERY_LIMIT)) throw bad(`limit must be an integer from 1 to ${MAX_QUERY_LIMIT}`);
        if (key !== 'limit' && !(n >= 1 && Number.isSafeInteger(n))) throw bad(`${key} must be a cursor (a positive integer)`);
        if (key === 'limit') q.limit = n;
        else if (key === 'before') q.beforeSeq = n;
        else {
          // Keyset paging towards newer rows reads them oldest first from the cursor; the API turns the page round.
          q.afterSeq = n;
          q.order = 'asc';
        }
        break;
      }
      case 'id':
        q.idPrefix = value;
        break;
      default:
        q[key as 'route' | 'sink' | 'type'] = value;
    }
  }
  if (q.beforeSeq !== undefined && q.afterSeq !== undefined) throw bad('give before or after, not both');
  if (q.since !== undefined && q.until !== undefined && q.since >= q.until) throw bad('since must be earlier than until');
  return q;
}
