/**
 * Jira Cloud (REST v3): one issue per event in the configured project, labelled `darkhook-<id>`.
 * The label makes creation idempotent across a lost answer: before any attempt after the first, a JQL
 * search (`GET /rest/api/3/search/jql`) looks for an issue with the label and, when one exists, the
 * delivery is done without creating a second.
 */
import { targetOf } from '../config/config.js';
import { httpCall, outcomeOf } from './http-call.js';
import { slackText } from './slack.js';
import { shortError, type AttemptContext, type Sink, type SinkMessage, type SinkOutcome } from './sink.js';
import type { JiraSinkConfig } from './sink-config.js';

/** Jira's summary field holds at most 255 characters. */
const MAX_SUMMARY = 255;

/** The label an event's issue carries: letters, digits, `_` and `-` only (Jira labels hold no spaces). */
export function jiraLabel(id: string): string {
  return `darkhook-${id.replace(/[^A-Za-z0-9_-]/g, '_')}`;
}

/** A sink that opens one Jira issue per event. */
export function jiraSink(config: JiraSinkConfig): Sink {
  const base = config.url.replace(/\/+$/, '');
  const auth = `Basic ${Buffer.from(`${config.email}:${config.token}`).toString('base64')}`;
  const headers = { ...config.headers, authorization: auth, accept: 'application/json' };
  return {
    name: config.name,
    type: 'jira',
    target: `${targetOf(base)} (project ${config.project})`,
    skipReason: (message) => (message.type === 'ping' ? 'GitHub ping events do not open Jira issues' : undefined),
    async deliver(message: SinkMessage, context: AttemptContext): Promise<SinkOutcome> {
      const label = jiraLabel(message.id);
      if (context.attempt > 1) {
        const jql = `project = "${config.project}" AND labels = "${label}"`;
        const found = await httpCall(`${base}/rest/api/3/search/jql?${new URLSearchParams({ jql, fields: 'key', maxResults: '1' })}`, { method: 'GET', headers }, context.signal);
        const seen = outcomeOf(found);
        if (seen.type !== 'delivered') return seen;
        const key = issueKeyOf(found.ok ? found.text : '');
        if (key === null) return { type: 'retry', status: 200, error: 'the Jira search answered without an issues list' };
        if (key !== undefined) return { type: 'delivered', status: 200, detail: `${key} (found by label after a lost answer)` };
      }
      const summary = summaryOf(message);
      const body = JSON.stringify({
        fields: {
          project: { key: config.project },
          issuetype: { name: config.issueType },
          summary,
          labels: ['darkhook', label],
          description: { type: 'doc', version: 1, content: [{ type: 'codeBlock', content: [{ type: 'text', text: bodyText(message) }] }] },
        },
      });
      const answer = await httpCall(`${base}/rest/api/3/issue`, { headers: { ...headers, 'content-type': 'application/json' }, body }, context.signal);
      const outcome = outcomeOf(answer);
      if (outcome.type === 'delivered' && answer.ok) {
        const key = str(parse(answer.text)?.key);
        return key === undefined ? outcome : { ...outcome, detail: key };
      }
      return outcome;
    },
    async close(): Promise<void> {},
  };
}

function summaryOf(message: SinkMessage): string {
  const first = slackText(message).split('\n')[0]!.replace(/[*_`]/g, '').replaceAll('&lt;', '<').replaceAll('&gt;', '>').replaceAll('&amp;', '&');
  return shortError(first, MAX_SUMMARY);
}

function bodyText(message: SinkMessage): string {
  const text = message.body.toString('utf8');
  try {
    return `${JSON.stringify(JSON.parse(text), null, 2).slice(0, 30_000)}\n\nid: ${message.id}, type: ${message.type}`;
  } catch {
    return `(${message.body.length} bytes, not JSON)\n\nid: ${message.id}, type: ${message.type}`;
  }
}

/** The first issue key of a search answer; undefined when none; null when the answer is unreadable. */
function issueKeyOf(text: string): string | undefined | null {
  const issues = parse(text)?.issues;
  if (!Array.isArray(issues)) return null;
  const first = issues[0] as Record<string, unknown> | undefined;
  return first === undefined ? undefined : (str(first.key) ?? str(first.id) ?? 'an existing issue');
}

function parse(text: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}
