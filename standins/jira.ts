/**
 * A stand-in for Jira Cloud's REST v3, the two calls a sink makes: `POST /rest/api/3/issue` (Basic
 * auth `email:token`, project key, issue type and summary checked; 201 `{id, key, self}`) and
 * `GET /rest/api/3/search/jql` for `project = "X" AND labels = "L"`. It can be told to lose its next
 * answers (the issue is created, then the socket is destroyed unanswered) or to answer 500.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { constantTimeEqual } from '../core/constant-time.js';
import { answer, header, readBody, serve, type ListenOptions } from './serve.js';

const MAX_BODY_BYTES = 1024 * 1024;
/** Jira's summary limit, in characters. */
const MAX_SUMMARY = 255;
/** The only JQL shape the stand-in understands. */
const LABEL_JQL = /^\s*project\s*=\s*"([^"]+)"\s+AND\s+labels\s*=\s*"([^"]+)"\s*$/;

/** What the stand-in is told at start. */
export interface JiraStandinOptions extends ListenOptions {
  readonly email: string;
  readonly token: string;
  /** Existing project keys; default `['SEC']`. */
  readonly projects?: readonly string[];
  /** Issue type names; default `['Task', 'Bug']`. */
  readonly issueTypes?: readonly string[];
}

/** One created issue. */
export interface JiraIssue {
  readonly id: string;
  readonly key: string;
  readonly project: string;
  readonly issueType: string;
  readonly summary: string;
  readonly labels: readonly string[];
  readonly description: unknown;
}

/** How the stand-in answers: normally; `lose-answer` creates the issue and destroys the socket; `error` answers 500 (before creating). */
export type JiraMode = { readonly type: 'ok' } | { readonly type: 'lose-answer' | 'error'; readonly count?: number };

/** A running stand-in. */
export interface JiraStandin {
  /** The site URL (`http://127.0.0.1:<port>`). */
  readonly url: string;
  readonly port: number;
  readonly issues: JiraIssue[];
  /** Every request as `METHOD path status` (`lost` for a lost answer), in order. */
  readonly log: string[];
  setMode(mode: JiraMode): void;
  stop(): Promise<void>;
  start(): Promise<void>;
}

/** Start a Jira stand-in. */
export async function startJira(options: JiraStandinOptions): Promise<JiraStandin> {
  const projects = new Set(options.projects ?? ['SEC']);
  const issueTypes = new Set(options.issueTypes ?? ['Task', 'Bug']);
  const expectedAuth = `Basic ${Buffer.from(`${options.email}:${options.token}`).toString('base64')}`;
  const issues: JiraIssue[] = [];
  const log: string[] = [];
  let mode: JiraMode = { type: 'ok' };
  let left = Infinity;
  let origin = '';
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const body = await readBody(req, MAX_BODY_BYTES);
    const url = new URL(req.url ?? '/', 'http://jira.invalid');
    const what = `${req.method ?? ''} ${url.pathname}`;
    const json = (status: number, value: unknown): void => {
      log.push(`${what} ${status}`);
      answer(res, status, JSON.stringify(value), { 'content-type': 'application/json;charset=UTF-8' });
    };
    if (!constantTimeEqual(header(req, 'authorization') ?? '', expectedAuth)) {
      log.push(`${what} 401`);
      return answer(res, 401, 'Client must be authenticated to access this resource.', { 'www-authenticate': 'Basic realm="protected-area"' });
    }
    let fault: JiraMode['type'] = 'ok';
    if (mode.type !== 'ok' && left > 0) {
      fault = mode.type;
      if (--left === 0) mode = { type: 'ok' };
    }
    if (fault === 'error') return json(500, { errorMessages: ['Internal server error'], errors: {} });
    if (what === 'GET /rest/api/3/search/jql') {
      const m = LABEL_JQL.exec(url.searchParams.get('jql') ?? '');
      if (m === null) return json(400, { errorMessages: ['The stand-in understands only: project = "X" AND labels = "L"'], errors: {} });
      if (!projects.has(m[1]!)) return json(400, { errorMessages: [`The value '${m[1]!}' does not exist for the field 'project'.`], errors: {} });
      const found = issues.filter((i) => i.project === m[1] && i.labels.includes(m[2]!)).map((i) => ({ id: i.id, key: i.key }));
      return json(200, { issues: found, isLast: true });
    }
    if (what !== 'POST /rest/api/3/issue') return json(404, { errorMessages: ['not found'], errors: {} });
    const fields = fieldsOf(body);
    if (fields === undefined) return json(400, { errorMessages: ['Unexpected character: the body is not a JSON object with fields'], errors: {} });
    const errors = check(fields, projects, issueTypes);
    if (Object.keys(errors).length > 0) return json(400, { errorMessages: [], errors });
    const project = (fields.project as { key: string }).key;
    const id = String(10_000 + issues.length);
    const key = `${project}-${issues.filter((i) => i.project === project).length + 1}`;
    issues.push({
      id,
      key,
      project,
      issueType: (fields.issuetype as { name: string }).name,
      summary: fields.summary as string,
      labels: (fields.labels as string[] | undefined) ?? [],
      description: fields.description,
    });
    if (fault === 'lose-answer') {
      // Created, but the answer never arrives: the caller cannot tell this from a failed create.
      log.push(`${what} lost`);
      req.socket.destroy();
      return;
    }
    json(201, { id, key, self: `${origin}/rest/api/3/issue/${id}` });
  };
  const served = await serve(handle, options);
  origin = served.origin;
  return {
    url: served.origin,
    port: served.port,
    issues,
    log,
    setMode(next) {
      mode = next;
      left = next.type === 'ok' ? Infinity : (next.count ?? Infinity);
    },
    stop: () => served.stop(),
    start: () => served.start(),
  };
}

function fieldsOf(body: Buffer | undefined): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(body?.toString('utf8') ?? '') as { fields?: unknown };
    return typeof v.fields === 'object' && v.fields !== null ? (v.fields as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Jira's field errors for a create, keyed by field. */
function check(fields: Record<string, unknown>, projects: Set<string>, issueTypes: Set<string>): Record<string, string> {
  const errors: Record<string, string> = {};
  const key = (fields.project as { key?: unknown } | undefined)?.key;
  if (typeof key !== 'string' || !projects.has(key)) errors.project = 'Specify a valid project ID or key';
  const type = (fields.issuetype as { name?: unknown } | undefined)?.name;
  if (typeof type !== 'string' || !issueTypes.has(type)) errors.issuetype = 'Specify a valid issue type';
  const summary = fields.summary;
  if (typeof summary !== 'string' || summary.trim() === '') errors.summary = 'You must specify a summary of the issue.';
  else if (summary.length > MAX_SUMMARY) errors.summary = 'Summary must be less than 255 characters.';
  const labels = fields.labels;
  if (labels !== undefined && (!Array.isArray(labels) || labels.some((l) => typeof l !== 'string' || /\s/.test(l)))) {
    errors.labels = 'Labels must be strings without spaces.';
  }
  return errors;
}
