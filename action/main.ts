/** The GitHub Action: reads INPUT_* like the runner sets them, keeps the identity in memory, sends one event, writes outputs. */
import { randomUUID } from 'node:crypto';
import { appendFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeBase64Strict } from '../core/base64.js';
import { FileOutbox } from '../connector/sender/outbox-file.js';
import { createSender } from '../connector/sender/sender.js';
import { checkSeverity } from '../connector/webhook/severity.js';
import { sendTestEvent } from '../connector/sender/test-event.js';
import { ZitiContext } from '../connector/ziti/context.js';
import { exitCodeFor, formatError } from '../cli/exit-codes.js';
import { OptionError, SendError } from '../core/index.js';
import { parseIdentity } from '../pki/identity.js';
import { DEFAULT_WEBHOOK_PATH } from '../connector/webhook/headers.js';

/** The service name as the `Host` header when it is a valid header value (service names may hold spaces). */
function hostFor(service: string): string | undefined {
  return /^[\x21-\x7e]+$/.test(service) ? service : undefined;
}

/** An input as the runner passes it: `INPUT_<NAME>` upper-cased, spaces as `_`, trimmed. */
function input(name: string): string {
  return (process.env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] ?? '').trim();
}

function required(name: string): string {
  const value = input(name);
  if (value === '') throw new OptionError('ERR_OPTION_INVALID', `input "${name}" is required`);
  return value;
}

/** Escape a workflow command's data (`%`, CR, LF), as the runner's toolkit does. */
function escapeData(text: string): string {
  return text.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

function command(name: string, data: string): void {
  process.stdout.write(`::${name}::${escapeData(data)}\n`);
}

/** Append `name` to the `GITHUB_OUTPUT` file in the multi-line (heredoc) form with a random delimiter. */
function setOutput(name: string, value: string): void {
  const file = process.env['GITHUB_OUTPUT'];
  if (!file) return;
  const delimiter = `ghadelimiter_${randomUUID()}`;
  appendFileSync(file, `${name}<<${delimiter}\n${value}\n${delimiter}\n`, 'utf8');
}

/** The identity JSON, given as JSON text or its base64; it is parsed in memory and never written anywhere. */
function identityText(raw: string): string {
  if (raw.startsWith('{')) return raw;
  const decoded = decodeBase64Strict(raw.replace(/\s+/g, ''));
  if (decoded === undefined) throw new OptionError('ERR_OPTION_INVALID', 'input "identity" is neither identity JSON nor its base64');
  return decoded.toString('utf8');
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new OptionError('ERR_OPTION_INVALID', `${what} is not valid JSON`, { cause });
  }
}

/** The body: `payload`, else the workflow's event payload at GITHUB_EVENT_PATH, with `data` merged on top. */
function body(): Buffer {
  const payloadText = input('payload');
  const eventPath = process.env['GITHUB_EVENT_PATH'];
  let raw: Buffer;
  if (payloadText !== '') raw = Buffer.from(payloadText, 'utf8');
  else if (eventPath) raw = readFileSync(eventPath);
  else raw = Buffer.from('{}');
  const dataText = input('data');
  if (dataText === '') return raw;
  const data = parseJson(dataText, 'input "data"');
  const payload = parseJson(raw.toString('utf8'), 'the payload');
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObject(data) || !isObject(payload)) throw new OptionError('ERR_OPTION_INVALID', 'input "data" and the payload must both be JSON objects to merge');
  return Buffer.from(JSON.stringify({ ...payload, ...data }), 'utf8');
}

/** What the step reports in its outputs; filled in as the run goes. */
const outcome = { messageId: '', status: 'failed' };

async function run(): Promise<void> {
  const secret = required('secret');
  command('add-mask', secret);
  const service = required('service');
  const identity = parseIdentity(identityText(required('identity')));
  const path = input('path') || DEFAULT_WEBHOOK_PATH;
  const deadlineText = input('deadline-seconds') || '300';
  if (!/^\d+$/.test(deadlineText)) throw new OptionError('ERR_OPTION_INVALID', 'input "deadline-seconds" must be whole seconds');
  const ziti = new ZitiContext(identity);
  const connect = () => ziti.dial(service);
  try {
    if (input('test') === 'true') {
      const result = await sendTestEvent({ connect, secret, path, host: hostFor(service) });
      outcome.messageId = result.id;
      outcome.status = 'delivered';
      process.stdout.write(`darkhook: test event ${result.id}: HTTP ${result.status} in ${result.ms} ms\n`);
      return;
    }
    const event = input('event') || process.env['GITHUB_EVENT_NAME'] || 'message';
    const severity = checkSeverity(input('severity') || undefined, 'input "severity"');
    // The outbox lives in the runner's temp folder, never the workspace.
    const outboxPath = join(process.env['RUNNER_TEMP'] || tmpdir(), `darkhook-outbox-${randomUUID()}.jsonl`);
    const outbox = FileOutbox.open(outboxPath);
    const sender = createSender({ outbox, connect, secret, path, host: hostFor(service), deadlineMs: Number(deadlineText) * 1000 });
    try {
      const sent = await sender.send({ type: event, body: body(), contentType: 'application/json', ...(severity ? { severity } : {}) });
      outcome.messageId = sent.id;
      const report = await sender.flush();
      const status = report.delivered.includes(sent.id) ? 'delivered' : report.parked.length > 0 ? 'parked' : 'pending';
      outcome.status = status;
      if (report.parked.length > 0) {
        throw new SendError('ERR_SEND_PARKED', `message ${sent.id} refused: ${report.parked[0]!.reason}`, { ids: [sent.id] });
      }
      if (status === 'pending') {
        throw new SendError('ERR_SEND_DEADLINE_EXCEEDED', `message ${sent.id} not delivered within ${deadlineText} s; last error ${report.lastError ?? 'none'}`, {
          ids: [sent.id],
        });
      }
      process.stdout.write(`darkhook: delivered ${sent.id} (${event}) to ${service}\n`);
    } finally {
      await sender.close();
      const empty = outbox.counts().pending + outbox.counts().parked === 0;
      outbox.close();
      if (empty) rmSync(outboxPath, { force: true });
    }
  } finally {
    await ziti.close();
  }
}

run().then(
  () => {
    setOutput('message-id', outcome.messageId);
    setOutput('status', outcome.status);
    process.exitCode = 0;
  },
  (err: unknown) => {
    setOutput('message-id', outcome.messageId);
    setOutput('status', outcome.status);
    command('error', formatError(err));
    process.exitCode = exitCodeFor(err) || 1;
  },
);
