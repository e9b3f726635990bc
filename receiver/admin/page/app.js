// darkhook admin page: plain DOM code over the admin JSON API. Data only ever reaches the page through
// textContent and attribute setters, never an HTML parser, so payloads render as text (CSP backs this up).
/* global document, window, fetch, location, URLSearchParams, TextDecoder, atob, setInterval */

/** How often the visible view refreshes itself, in milliseconds. */
const REFRESH_MS = 2000;
/** Body text shown before "show the whole body", in characters. */
const BODY_PREVIEW_CHARS = 64 * 1024;
/** Body bytes shown in the hex view. */
const HEX_PREVIEW_BYTES = 4096;

const $ = (id) => document.getElementById(id);
// `gen` counts renders: an answer that comes back after a newer request started is dropped, so a slow
// refresh never paints over the page a click just asked for.
const state = { csrf: null, query: new URLSearchParams({ limit: '50' }), cursor: null, page: null, detailId: null, busy: false, gen: 0 };
const stale = (gen) => gen !== state.gen;

/** Make an element: `props.text` is its text, `props.class` its class, other props become attributes. */
function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null) continue;
    if (k === 'text') e.textContent = String(v);
    else if (k === 'class') e.className = String(v);
    else if (k === 'onclick') e.addEventListener('click', v);
    else if (k.startsWith('data-') || ['href', 'type', 'title', 'disabled'].includes(k)) {
      if (k === 'disabled') e.disabled = Boolean(v);
      else e.setAttribute(k, String(v));
    }
  }
  for (const c of children) e.append(c instanceof window.Node ? c : document.createTextNode(String(c ?? '')));
  return e;
}

const fmtTime = (ms) => (typeof ms === 'number' ? new Date(ms).toISOString().replace('T', ' ').slice(0, 19) : '');
const show = (id, visible) => { $(id).hidden = !visible; };
const setError = (text) => { $('error').textContent = text ?? ''; };

class Unauthorized extends Error {}

/** Call the API; state-changing calls carry the session's CSRF token. */
async function api(method, path, body) {
  const headers = { accept: 'application/json' };
  const init = { method, headers, credentials: 'same-origin' };
  if (method !== 'GET') {
    headers['content-type'] = 'application/json';
    if (state.csrf) headers['x-darkhook-csrf'] = state.csrf;
    init.body = JSON.stringify(body ?? {});
  }
  const res = await fetch(path, init);
  const data = await res.json().catch(() => ({}));
  if (res.status === 401) throw new Unauthorized('authentication required');
  if (!res.ok) throw new Error(`${data.code ?? res.status}: ${data.message ?? 'request failed'}`);
  return data;
}

function showLogin(message) {
  state.csrf = null;
  show('app', false);
  show('login', true);
  $('login-error').textContent = message ?? '';
  $('token').focus();
}

async function boot() {
  try {
    const s = await api('GET', '/api/session');
    state.csrf = s.csrf;
    show('login', false);
    show('app', true);
    await loadSinkChoices();
    await route();
  } catch (err) {
    if (err instanceof Unauthorized) showLogin();
    else setError(err.message);
  }
}

$('login-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const token = $('token').value;
  try {
    const s = await api('POST', '/login', { token });
    $('token').value = '';
    state.csrf = s.csrf;
    await boot();
  } catch (err) {
    showLogin(err instanceof Unauthorized ? 'Wrong token.' : err.message);
  }
});

$('logout').addEventListener('click', async () => {
  await api('POST', '/logout').catch(() => undefined);
  showLogin('Logged out.');
});

async function loadSinkChoices() {
  const { sinks } = await api('GET', '/api/sinks');
  const select = $('f-sink');
  select.replaceChildren(el('option', { text: 'any' }));
  select.firstChild.value = '';
  for (const s of sinks) select.append(el('option', { text: s.name }));
  select.value = state.query.get('sink') ?? '';
}

// ---- views ----

const VIEWS = ['view-messages', 'view-detail', 'view-sinks', 'view-rejections'];
function showView(id) {
  for (const v of VIEWS) show(v, v === id);
  for (const [nav, view] of [['nav-messages', 'view-messages'], ['nav-sinks', 'view-sinks'], ['nav-rejections', 'view-rejections']]) {
    $(nav).classList.toggle('current', view === id || (nav === 'nav-messages' && id === 'view-detail'));
  }
}

async function route() {
  const hash = location.hash;
  const gen = ++state.gen;
  setError('');
  try {
    if (hash.startsWith('#/message/')) {
      state.detailId = decodeURIComponent(hash.slice('#/message/'.length));
      showView('view-detail');
      await renderDetail(gen);
    } else if (hash === '#/sinks') {
      state.detailId = null;
      showView('view-sinks');
      await renderSinks(gen);
    } else if (hash === '#/rejections') {
      state.detailId = null;
      showView('view-rejections');
      await renderRejections(gen);
    } else {
      state.detailId = null;
      showView('view-messages');
      await renderMessages(gen);
    }
    $('refreshed').textContent = `updated ${fmtTime(Date.now())}`;
  } catch (err) {
    if (err instanceof Unauthorized) showLogin('Session ended; log in again.');
    else setError(err.message);
  }
}
window.addEventListener('hashchange', () => void route());

// ---- messages ----

$('filters').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const q = new URLSearchParams();
  for (const [k, v] of new window.FormData($('filters'))) if (String(v).trim() !== '') q.set(k, String(v).trim());
  if (q.get('status') === 'rejected') {
    location.hash = '#/rejections';
    return;
  }
  state.query = q;
  state.cursor = null;
  if (location.hash === '' || location.hash === '#/messages') void route();
  else location.hash = '#/messages';
});
$('filters').addEventListener('reset', () => {
  state.query = new URLSearchParams({ limit: '50' });
  state.cursor = null;
  window.setTimeout(() => void route(), 0);
});
$('newest').addEventListener('click', () => { state.cursor = null; void route(); });
$('older').addEventListener('click', () => {
  if (state.page?.next) { state.cursor = { before: state.page.next }; void route(); }
});
$('newer').addEventListener('click', () => {
  if (state.page?.prev) { state.cursor = { after: state.page.prev }; void route(); }
});

async function renderMessages(gen) {
  const q = new URLSearchParams(state.query);
  if (state.cursor?.before) q.set('before', String(state.cursor.before));
  if (state.cursor?.after) q.set('after', String(state.cursor.after));
  const page = await api('GET', `/api/messages?${q}`);
  if (stale(gen)) return;
  if (state.cursor?.after && page.messages.length === 0) {
    state.cursor = null;
    return renderMessages(gen);
  }
  state.page = page;
  const rows = page.messages.map((m) =>
    el('tr', { 'data-id': m.id },
      el('td', { text: fmtTime(m.receivedAt) }),
      el('td', {}, el('a', { href: `#/message/${encodeURIComponent(m.id)}`, text: m.id, class: 'msg-link' })),
      el('td', { text: m.type }),
      el('td', { text: m.route ?? '' }),
      el('td', { text: m.caller ?? '' }),
      el('td', { text: m.status, class: `status-${m.status}` }),
      el('td', { text: m.bytes })));
  $('messages').tBodies[0].replaceChildren(...rows);
  show('empty', rows.length === 0);
  $('older').disabled = !page.next;
  $('newer').disabled = !page.prev;
  const current = state.query.get('status') ?? '';
  const total = Object.values(page.counts).reduce((a, b) => a + b, 0);
  const chips = [['', `all ${total}`], ...Object.entries(page.counts).map(([s, n]) => [s, `${s} ${n}`])].map(([s, label]) =>
    el('button', { type: 'button', text: label, class: s === current ? 'current' : '', 'data-status': s || 'all', onclick: () => {
      $('f-status').value = s;
      $('filters').requestSubmit();
    } }));
  $('counts').replaceChildren(...chips);
}

$('resubmit-dead').addEventListener('click', () => { show('confirm-dead', true); });
$('confirm-dead-no').addEventListener('click', () => { show('confirm-dead', false); });
$('confirm-dead-yes').addEventListener('click', async () => {
  show('confirm-dead', false);
  try {
    const sink = state.query.get('sink');
    const r = await api('POST', '/api/resubmit-dead', sink ? { sink } : {});
    $('bulk-result').textContent = `${r.resubmitted} dead deliveries queued again`;
    await route();
  } catch (err) {
    setError(err.message);
  }
});

// ---- detail ----

function decodeBase64(b64) {
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return bytes;
}

function hexView(bytes) {
  const lines = [];
  for (let off = 0; off < Math.min(bytes.length, HEX_PREVIEW_BYTES); off += 16) {
    const chunk = bytes.subarray(off, off + 16);
    const hex = [...chunk].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    const ascii = [...chunk].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
    lines.push(`${off.toString(16).padStart(8, '0')}  ${hex.padEnd(47)}  ${ascii}`);
  }
  return lines.join('\n');
}

/** The body as pretty JSON, text, or a hex view, with what it is. */
function bodyView(body) {
  const bytes = decodeBase64(body.base64);
  let text;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return { kind: 'binary (hex)', text: hexView(bytes), cut: bytes.length > HEX_PREVIEW_BYTES };
  }
  if (!body.truncated) {
    try {
      return { kind: 'JSON', text: JSON.stringify(JSON.parse(text), null, 2) };
    } catch {
      // not JSON: shown as text
    }
  }
  return { kind: 'text', text };
}

let fullBody = '';
$('body-more').addEventListener('click', () => {
  $('detail-body').textContent = fullBody;
  show('body-more', false);
});

async function renderDetail(gen) {
  const id = state.detailId;
  const d = await api('GET', `/api/messages/${encodeURIComponent(id)}`);
  if (stale(gen) || id !== state.detailId) return;
  const m = d.message;
  $('detail-title').textContent = m.id;
  const meta = [
    ['Event type', m.type], ['Status', m.status], ['Route', m.route || '(none)'], ['Caller', m.caller ?? '(not named by the router)'],
    ['Verification', 'signature and timestamp verified at ingest (unverified requests are refused, see Rejected)'],
    ['Severity', m.severity ?? ''], ['Received', fmtTime(m.receivedAt)], ['Event time', fmtTime(m.timestamp * 1000)],
    ['Batch', m.batchId ?? ''], ['Filtered', m.filteredReason ?? ''],
  ];
  $('detail-meta').replaceChildren(...meta.flatMap(([k, v]) => [el('dt', { text: k }), el('dd', { text: v, 'data-field': k })]));
  $('detail-headers').tBodies[0].replaceChildren(...Object.entries(m.headers).map(([k, v]) => el('tr', {}, el('th', { text: k }), el('td', { text: v }))));
  const view = bodyView(d.body);
  fullBody = view.text;
  const preview = view.text.length > BODY_PREVIEW_CHARS;
  $('detail-body').textContent = preview ? view.text.slice(0, BODY_PREVIEW_CHARS) : view.text;
  show('body-more', preview);
  $('body-info').textContent = `${view.kind}, ${d.body.bytes} bytes${d.body.truncated ? ' (only the first 256 KiB are shown)' : ''}${view.cut ? ' (first 4 KiB in hex)' : ''}`;
  $('detail-deliveries').replaceChildren(...(d.deliveries.length === 0 ? [el('p', { class: 'muted', text: 'No sink on this route.' })] : d.deliveries.map(deliveryView)));
}

function deliveryView(dv) {
  const attempts = dv.attemptLog.map((a, i) =>
    el('tr', {},
      el('td', { text: i + 1 }), el('td', { text: fmtTime(a.startedAt) }), el('td', { text: a.outcome, class: `outcome-${a.outcome}` }),
      el('td', { text: a.status ?? '' }), el('td', { text: `${a.durationMs} ms` }), el('td', { text: a.error ?? '' })));
  return el('div', { class: 'delivery', 'data-sink': dv.sink },
    el('h4', {}, el('span', { text: dv.sink }), el('span', { class: `state-${dv.state}`, text: dv.state, 'data-state': dv.state }),
      el('span', { class: 'muted', text: `${dv.attempts} attempt(s)${dv.possibleDuplicate ? ', possible duplicate' : ''}` }),
      el('button', { type: 'button', text: `Resubmit to ${dv.sink}`, class: 'resubmit-sink', onclick: () => void resubmit(dv.sink) })),
    dv.lastError ? el('p', { class: 'error', text: `last error: ${dv.lastError}` }) : '',
    el('table', { class: 'attempts' },
      el('thead', {}, el('tr', {}, ...['#', 'Started (UTC)', 'Outcome', 'Status', 'Duration', 'Error'].map((t) => el('th', { text: t })))),
      el('tbody', {}, ...attempts)));
}

async function resubmit(sink) {
  try {
    const r = await api('POST', `/api/messages/${encodeURIComponent(state.detailId)}/resubmit`, sink ? { sink } : {});
    $('resubmit-result').textContent = `${r.resubmitted} delivery(ies) queued again`;
    await renderDetail(++state.gen);
  } catch (err) {
    if (err instanceof Unauthorized) showLogin('Session ended; log in again.');
    else setError(err.message);
  }
}
$('resubmit-all').addEventListener('click', () => void resubmit(undefined));

// ---- sinks and refusals ----

async function renderSinks(gen) {
  const { sinks } = await api('GET', '/api/sinks');
  if (stale(gen)) return;
  $('sinks').tBodies[0].replaceChildren(...sinks.map((s) => {
    const w = s.worker;
    const stateText = s.state === 'disabled' ? `disabled: ${s.reason ?? 'no reason given'}`
      : w?.circuit === 'open' ? 'circuit open' : w?.pausedUntil ? `paused until ${fmtTime(w.pausedUntil)}` : 'active';
    const queue = `${s.deliveries.pending ?? 0} pending, ${w?.inflight ?? s.deliveries.inflight ?? 0} in flight, ${s.deliveries.dead ?? 0} dead`;
    const action = (name, label, disabled) => el('button', { type: 'button', text: label, 'data-action': name, disabled, onclick: () => void sinkAction(s.name, name) });
    return el('tr', { 'data-sink': s.name },
      el('td', { text: s.name }), el('td', { text: s.type }), el('td', { text: s.target }),
      el('td', { text: stateText, class: `state-${s.state}`, 'data-state': s.state }),
      el('td', { text: queue }),
      el('td', { text: s.lastError ? `${fmtTime(s.lastError.at)} ${s.lastError.error}` : '' }),
      el('td', {}, action('enable', 'Enable', s.state === 'active'), action('disable', 'Disable', s.state === 'disabled'), action('test', 'Send test', false)));
  }));
}

async function sinkAction(name, action) {
  try {
    const r = await api('POST', `/api/sinks/${encodeURIComponent(name)}/${action}`);
    $('sink-result').textContent = action === 'test' ? `test message ${r.id} queued for ${name}` : `${name} is ${r.state}`;
    await renderSinks(++state.gen);
  } catch (err) {
    if (err instanceof Unauthorized) showLogin('Session ended; log in again.');
    else setError(err.message);
  }
}

async function renderRejections(gen) {
  const { rejections } = await api('GET', '/api/rejections');
  if (stale(gen)) return;
  $('rejections').tBodies[0].replaceChildren(...rejections.map((r) =>
    el('tr', {}, el('td', { text: fmtTime(r.at) }), el('td', { text: r.requestId ?? '' }), el('td', { text: r.caller ?? '' }),
      el('td', { text: r.route ?? '' }), el('td', { text: r.status }), el('td', { text: r.code }))));
}

// Refresh the visible view by itself; paused while the tab is hidden or logged out.
setInterval(() => {
  if (state.busy || $('app').hidden || document.visibilityState !== 'visible') return;
  state.busy = true;
  void route().finally(() => { state.busy = false; });
}, REFRESH_MS);

void boot();
