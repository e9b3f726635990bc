/**
 * Slack incoming webhooks: one message per event, a Block Kit section in `mrkdwn` from the event's JSON
 * (with the same text as the notification fallback).
 * Slack's answers: 200 `ok`; 400 `invalid_payload` (dead); 403 `action_prohibited`, 404
 * `channel_not_found`/`no_service`, 410 `channel_is_archived` (the URL no longer works: the sink is
 * disabled, deliveries wait); 429 with `Retry-After` (the sink pauses); 5xx (retried).
 */
import { TEST_EVENT_TYPE } from '../../connector/webhook/headers.js';
import { httpCall, outcomeOf } from './http-call.js';
import type { AttemptContext, Sink, SinkMessage, SinkOutcome } from './sink.js';
import type { SlackSinkConfig } from './sink-config.js';

/** A Block Kit section's text holds at most this many characters; we cut first, readably. */
const MAX_TEXT = 3_000;

/** A sink that posts each event to one Slack incoming webhook. */
export function slackSink(config: SlackSinkConfig): Sink {
  return {
    name: config.name,
    type: 'slack',
    // The URL is the credential: never shown.
    target: 'slack (incoming webhook)',
    skipReason(message: SinkMessage): string | undefined {
      return message.type === 'ping' ? 'GitHub ping events are not posted to Slack' : undefined;
    },
    async deliver(message: SinkMessage, context: AttemptContext): Promise<SinkOutcome> {
      // Block Kit: one mrkdwn section (readable in the channel); `text` stays as the notification fallback.
      const text = slackText(message);
      const body = JSON.stringify({ text, blocks: [{ type: 'section', text: { type: 'mrkdwn', text } }] });
      const answer = await httpCall(config.url, { headers: { ...config.headers, 'content-type': 'application/json' }, body }, context.signal);
      if (answer.ok && (answer.status === 404 || answer.status === 410)) {
        return { type: 'disable', status: answer.status, error: `HTTP ${answer.status}: ${answer.text.trim() || 'the webhook URL no longer works'}` };
      }
      return outcomeOf(answer);
    },
    async close(): Promise<void> {},
  };
}

/** Escape the three characters Slack's `mrkdwn` treats as control characters. */
export function slackEscape(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

/** The message text for one event: severity, title and the useful fields, every value escaped. */
export function slackText(message: SinkMessage): string {
  const json = parseObject(message.body);
  const severity = message.severity === undefined ? '' : `[${message.severity.toUpperCase()}] `;
  const lines: string[] = [];
  if (message.type === TEST_EVENT_TYPE) {
    lines.push(`*${slackEscape('darkhook test message')}*: this sink is reachable.`);
  } else if (json !== undefined && typeof json.repository === 'object' && json.repository !== null && typeof json.ref === 'string') {
    // A GitHub push-like event.
    const repo = str((json.repository as Record<string, unknown>).full_name) ?? 'a repository';
    const pusher = str((json.pusher as Record<string, unknown> | undefined)?.name) ?? str((json.sender as Record<string, unknown> | undefined)?.login);
    lines.push(`*${slackEscape(message.type)}* to \`${slackEscape(repo)}\` ${slackEscape(json.ref)}${pusher === undefined ? '' : ` by ${slackEscape(pusher)}`}`);
    const head = str((json.head_commit as Record<string, unknown> | undefined)?.message);
    if (head !== undefined) lines.push(`> ${slackEscape(head.split('\n')[0]!)}`);
  } else {
    const title = json === undefined ? undefined : str(json.title) ?? str(json.summary) ?? str(json.message) ?? str(json.name);
    lines.push(`*${slackEscape(severity + (title ?? message.type))}*`);
    if (title !== undefined) lines.push(`type: ${slackEscape(message.type)}`);
    for (const key of ['source', 'host', 'resource', 'rule', 'description', 'url']) {
      const value = json === undefined ? undefined : str(json[key]);
      if (value !== undefined) lines.push(`${key}: ${slackEscape(value)}`);
    }
  }
  lines.push(`_${slackEscape(`id ${message.id}${message.caller === undefined ? '' : ` · from ${message.caller}`}`)}_`);
  const text = lines.join('\n');
  return text.length > MAX_TEXT ? `${text.slice(0, MAX_TEXT - 1)}…` : text;
}

function parseObject(body: Buffer): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(body.toString('utf8'));
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : typeof v === 'number' ? String(v) : undefined;
}
