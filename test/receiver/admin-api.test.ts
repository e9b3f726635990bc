/** The admin API with fastify's inject(): auth (bearer, login session, CSRF), security headers, paging bounds, filters, resubmit, sinks, and index use at 100,000 messages. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ADMIN_CSP } from '../../receiver/admin/assets.js';
import { parseMessageQuery } from '../../receiver/admin/query.js';
import { CSRF_HEADER, DEFAULT_SESSION_TTL_MS, SESSION_COOKIE } from '../../receiver/admin/session.js';
import { ADMIN_TOKEN, type AdminFixture, adminFixture, killDelivery, routed } from './admin-fixture.js';

const BEARER = { authorization: `Bearer ${ADMIN_TOKEN}` };

/** Every admin route but the public ones, with a method. */
const PROTECTED: readonly [string, string][] = [
  ['GET', '/metrics'], ['GET', '/api/session'], ['GET', '/api/messages'], ['GET', '/api/messages/msg_000'], ['POST', '/api/messages/msg_000/resubmit'],
  ['POST', '/api/resubmit-dead'], ['GET', '/api/rejections'], ['GET', '/api/sinks'], ['POST', '/api/sinks/siem/disable'], ['POST', '/api/sinks/siem/enable'],
  ['POST', '/api/sinks/siem/test'], ['POST', '/logout'], ['GET', '/no/such/route'],
];

describe('admin API (inject)', () => {
  let fx: AdminFixture;
  let app: ReturnType<AdminFixture['app']>;
  const t0 = Date.now() - 3_600_000;

  before(async () => {
    fx = await adminFixture({ fakeClock: true });
    // 30 messages, one per second: ids msg_000…msg_029; every third is an alert on /alerts for backup, the rest pushes for siem.
    for (let i = 0; i < 30; i++) {
      const id = `msg_${String(i).padStart(3, '0')}`;
      fx.store.ingest([routed(id, i % 3 === 0 ? { type: 'alert', route: '/alerts', sinks: ['backup'] } : {})], t0 + i * 1000);
    }
    killDelivery(fx.store, 'backup', t0 + 60_000); // msg_000, 003, … 027 are dead (10 messages)
    fx.store.recordRejections([{ at: t0, requestId: 'req_1', caller: 'intruder', route: '/github', status: 401, code: 'ERR_WEBHOOK_SIGNATURE_MISMATCH' }]);
    app = fx.app();
    await app.ready();
  });
  after(() => fx.close());

  const get = (url: string, headers: Record<string, string> = BEARER) => app.inject({ method: 'GET', url, headers });
  const post = (url: string, payload: unknown = {}, headers: Record<string, string> = BEARER) => app.inject({ method: 'POST', url, headers, payload: payload as object });
  const login = async (): Promise<{ cookie: string; csrf: string }> => {
    const res = await post('/login', { token: ADMIN_TOKEN }, {});
    assert.equal(res.statusCode, 200);
    const set = String(res.headers['set-cookie']);
    return { cookie: set.split(';')[0]!, csrf: (res.json() as { csrf: string }).csrf };
  };

  it('serves health, the page shell and its files without a token, with a strict CSP and no remote asset', async () => {
    assert.equal((await get('/healthz', {})).statusCode, 200);
    const page = await get('/', {});
    assert.equal(page.statusCode, 200);
    assert.match(String(page.headers['content-type']), /^text\/html/);
    assert.equal(page.headers['content-security-policy'], ADMIN_CSP);
    assert.match(ADMIN_CSP, /script-src 'self';/);
    assert.doesNotMatch(ADMIN_CSP, /unsafe-inline|unsafe-eval/);
    assert.equal(page.headers['x-frame-options'], 'DENY');
    assert.equal(page.headers['x-content-type-options'], 'nosniff');
    assert.doesNotMatch(page.body, /https?:\/\//, 'no CDN or remote asset');
    assert.doesNotMatch(page.body, /<script(?![^>]*\bsrc=)/, 'no inline script');
    assert.doesNotMatch(page.body, /\sstyle=|<style/, 'no inline style');
    const js = await get('/assets/app.js', {});
    assert.equal(js.statusCode, 200);
    assert.match(String(js.headers['content-type']), /^text\/javascript/);
    assert.doesNotMatch(js.body, /innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(/);
    assert.match(String((await get('/assets/app.css', {})).headers['content-type']), /^text\/css/);
  });

  it('answers 401 with nothing but the code on every other route without a token, with a wrong one, or a forged cookie', async () => {
    for (const headers of [{}, { authorization: 'Bearer wrong-token' }, { authorization: `Basic ${ADMIN_TOKEN}` }, { cookie: `${SESSION_COOKIE}=forged` }]) {
      for (const [method, url] of PROTECTED) {
        const res = await app.inject({ method: method as 'GET' | 'POST', url, headers, ...(method === 'POST' ? { payload: {} } : {}) });
        assert.equal(res.statusCode, 401, `${method} ${url} ${JSON.stringify(headers)}`);
        assert.deepEqual(res.json(), { code: 'ERR_RECEIVER_ADMIN_UNAUTHORIZED', message: 'authentication required' });
        assert.equal(res.headers['set-cookie'], undefined);
      }
    }
    assert.equal(fx.store.sinkState('siem'), undefined, 'no refused request changed anything');
  });

  it('login: a wrong or missing token is 401 without a cookie; the right one sets an HttpOnly SameSite=Strict session', async () => {
    for (const payload of [{ token: 'wrong' }, {}, { token: '' }, { token: 42 }]) {
      const res = await post('/login', payload, {});
      assert.equal(res.statusCode, 401);
      assert.equal(res.json().code, 'ERR_RECEIVER_ADMIN_UNAUTHORIZED');
      assert.equal(res.headers['set-cookie'], undefined);
      assert.doesNotMatch(res.body, new RegExp(ADMIN_TOKEN));
    }
    const ok = await post('/login', { token: ADMIN_TOKEN }, {});
    assert.equal(ok.statusCode, 200);
    const cookie = String(ok.headers['set-cookie']);
    assert.match(cookie, new RegExp(`^${SESSION_COOKIE}=[A-Za-z0-9_-]{43}; Path=/; HttpOnly; SameSite=Strict; Max-Age=\\d+$`));
    assert.doesNotMatch(cookie, new RegExp(ADMIN_TOKEN), 'the cookie is a random id, not the token');
    const form = await app.inject({ method: 'POST', url: '/login', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: `token=${ADMIN_TOKEN}` });
    assert.equal(form.statusCode, 303);
    assert.equal(form.headers.location, '/');
    assert.match(String(form.headers['set-cookie']), /HttpOnly; SameSite=Strict/);
  });

  it('a session reads with its cookie; writes need its CSRF token (403 without, changing nothing); the bearer needs none', async () => {
    const { cookie, csrf } = await login();
    const list = await get('/api/messages', { cookie });
    assert.equal(list.statusCode, 200);
    assert.equal((await get('/api/session', { cookie })).json().csrf, csrf);
    for (const headers of [{ cookie }, { cookie, [CSRF_HEADER]: 'wrong' }, { cookie, [CSRF_HEADER]: '' }] as Record<string, string>[]) {
      for (const url of ['/api/sinks/siem/disable', '/api/resubmit-dead', '/api/messages/msg_000/resubmit', '/logout']) {
        const res = await post(url, {}, headers);
        assert.equal(res.statusCode, 403, url);
        assert.equal(res.json().code, 'ERR_RECEIVER_ADMIN_CSRF');
      }
    }
    assert.equal(fx.store.sinkState('siem'), undefined);
    assert.equal(fx.store.get('msg_003')!.message.status, 'dead');
    const other = await login();
    assert.equal((await post('/api/sinks/siem/disable', {}, { cookie, [CSRF_HEADER]: other.csrf })).statusCode, 403, "another session's token is refused");
    assert.equal((await post('/api/sinks/siem/disable', {}, { cookie, [CSRF_HEADER]: csrf })).statusCode, 200);
    assert.equal(fx.store.sinkState('siem')?.state, 'disabled');
    assert.equal((await post('/api/sinks/siem/enable')).statusCode, 200, 'bearer, no CSRF');
    assert.equal(fx.store.sinkState('siem')?.state, 'active');
    const out = await post('/logout', {}, { cookie, [CSRF_HEADER]: csrf });
    assert.equal(out.statusCode, 200);
    assert.match(String(out.headers['set-cookie']), /Max-Age=0/);
    assert.equal((await get('/api/messages', { cookie })).statusCode, 401, 'logged out');
  });

  it('a session ends after its lifetime', async () => {
    const { cookie } = await login();
    fx.clock.now += DEFAULT_SESSION_TTL_MS - 1_000;
    assert.equal((await get('/api/sinks', { cookie })).statusCode, 200);
    fx.clock.now += 2_000;
    assert.equal((await get('/api/sinks', { cookie })).statusCode, 401);
    fx.clock.now = Date.now();
  });

  it('pages newest first by keyset, both ways, to the ends', async () => {
    type Page = { messages: { id: string; seq: number }[]; next: number | null; prev: number | null; counts: Record<string, number> };
    const page = async (q: string): Promise<Page> => {
      const res = await get(`/api/messages?limit=12${q}`);
      assert.equal(res.statusCode, 200, res.body);
      return res.json() as Page;
    };
    const p1 = await page('');
    assert.deepEqual(p1.messages.map((m) => m.id), Array.from({ length: 12 }, (_, i) => `msg_${String(29 - i).padStart(3, '0')}`));
    assert.equal(p1.prev, null);
    const p2 = await page(`&before=${p1.next}`);
    assert.equal(p2.messages[0]!.id, 'msg_017');
    const p3 = await page(`&before=${p2.next}`);
    assert.deepEqual(p3.messages.map((m) => m.id), ['msg_005', 'msg_004', 'msg_003', 'msg_002', 'msg_001', 'msg_000']);
    assert.equal(p3.next, null, 'the oldest page has no next');
    const back = await page(`&after=${p3.prev}`);
    assert.deepEqual(back.messages.map((m) => m.id), p2.messages.map((m) => m.id), 'after turns back to the page before');
    const top = await page(`&after=${back.prev}`);
    assert.deepEqual(top.messages.map((m) => m.id), p1.messages.map((m) => m.id));
    assert.equal(top.prev, null, 'the newest page has no prev');
    assert.deepEqual(p1.counts, { stored: 0, pending: 20, delivered: 0, dead: 10, filtered: 0 }, 'counts ignore the cursor and the limit');
    assert.equal((await get('/api/messages?limit=1000')).json().messages.length, 30);
  });

  it('refuses bad paging and filters with a coded 400 naming the parameter', async () => {
    const cases: [string, RegExp][] = [
      ['limit=0', /limit/], ['limit=1001', /limit/], ['limit=abc', /limit/], ['limit=-1', /limit/], ['limit=1.5', /limit/],
      ['before=0', /before/], ['before=x', /before/], ['after=-3', /after/], ['before=5&after=3', /before or after/],
      ['status=bogus', /status/], ['status=rejected', /status/], ['since=yesterday', /since/], ['until=31/12/2026', /until/],
      ['since=1h&until=2h', /since must be earlier/], ['colour=red', /unknown filter "colour"/], ['status=dead&status=pending', /more than once/],
    ];
    for (const [q, message] of cases) {
      const res = await get(`/api/messages?${q}`);
      assert.equal(res.statusCode, 400, q);
      assert.equal(res.json().code, 'ERR_RECEIVER_REQUEST_INVALID', q);
      assert.match(res.json().message, message, q);
    }
  });

  it('filters by route, sink, status, type, time range and id prefix, with counts per status', async () => {
    const ids = async (q: string): Promise<string[]> => (await get(`/api/messages?limit=100&${q}`)).json().messages.map((m: { id: string }) => m.id);
    const alerts = Array.from({ length: 10 }, (_, i) => `msg_${String(27 - 3 * i).padStart(3, '0')}`);
    assert.deepEqual(await ids('route=/alerts'), alerts);
    assert.deepEqual(await ids('sink=backup'), alerts);
    assert.deepEqual(await ids('status=dead'), alerts);
    assert.deepEqual(await ids('type=alert'), alerts);
    assert.equal((await ids('sink=siem')).length, 20);
    assert.deepEqual(await ids('id=msg_01'), ['msg_019', 'msg_018', 'msg_017', 'msg_016', 'msg_015', 'msg_014', 'msg_013', 'msg_012', 'msg_011', 'msg_010']);
    assert.deepEqual(await ids(`since=${new Date(t0 + 27_000).toISOString()}`), ['msg_029', 'msg_028', 'msg_027']);
    assert.deepEqual(await ids(`since=${new Date(t0 + 1_000).toISOString()}&until=${new Date(t0 + 3_000).toISOString()}`), ['msg_002', 'msg_001']);
    assert.deepEqual(await ids('type=%22%3E%3Cimg'), []);
    const counts = (await get('/api/messages?route=/github')).json().counts;
    assert.deepEqual(counts, { stored: 0, pending: 20, delivered: 0, dead: 0, filtered: 0 });
  });

  it('detail: the message, its body as base64 with its size, deliveries with attempts; unknown ids 404', async () => {
    const res = await get('/api/messages/msg_003');
    assert.equal(res.statusCode, 200);
    const d = res.json();
    assert.equal(d.message.id, 'msg_003');
    assert.equal(d.message.caller, 'ci-sender');
    assert.equal(Buffer.from(d.body.base64, 'base64').toString(), '{"id":"msg_003"}');
    assert.equal(d.body.truncated, false);
    assert.deepEqual(d.deliveries.map((x: { sink: string; state: string }) => [x.sink, x.state]), [['backup', 'dead']]);
    assert.deepEqual(d.deliveries[0].attemptLog.map((a: { outcome: string; status: number }) => [a.outcome, a.status]), [['failed', 500]]);
    const missing = await get('/api/messages/msg_nope');
    assert.equal(missing.statusCode, 404);
    assert.equal(missing.json().code, 'ERR_RECEIVER_MESSAGE_NOT_FOUND');
  });

  it('resubmit per message and sink, and resubmit dead; bad sinks 400, unknown messages 404', async () => {
    const bad = await post('/api/messages/msg_003/resubmit', { sink: 'nope' });
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().code, 'ERR_RECEIVER_SINK_UNKNOWN');
    assert.equal((await post('/api/messages/msg_003/resubmit', { sink: 7 })).json().code, 'ERR_RECEIVER_REQUEST_INVALID');
    assert.equal((await post('/api/messages/msg_nope/resubmit')).statusCode, 404);
    assert.deepEqual((await post('/api/messages/msg_003/resubmit', { sink: 'backup' })).json(), { resubmitted: 1 });
    assert.equal(fx.store.get('msg_003')!.message.status, 'pending');
    assert.equal((await post('/api/resubmit-dead', { sink: 'nope' })).statusCode, 400);
    assert.deepEqual((await post('/api/resubmit-dead', { sink: 'backup' })).json(), { resubmitted: 9 });
    assert.equal((await get('/api/messages?status=dead')).json().messages.length, 0);
  });

  it('sinks: overview, enable, disable, test; unknown sinks 400, unknown actions 404; refusals listed', async () => {
    assert.equal((await post('/api/sinks/nope/disable')).json().code, 'ERR_RECEIVER_SINK_UNKNOWN');
    assert.equal((await post('/api/sinks/siem/explode')).statusCode, 404);
    assert.deepEqual((await post('/api/sinks/backup/disable')).json(), { name: 'backup', state: 'disabled' });
    const sinks = (await get('/api/sinks')).json().sinks as { name: string; state: string; reason: string; deliveries: Record<string, number> }[];
    assert.deepEqual(sinks.map((s) => [s.name, s.state, s.reason ?? null]), [['siem', 'active', null], ['backup', 'disabled', 'disabled by an operator']]);
    assert.equal(sinks[0]!.deliveries.pending, 20);
    assert.deepEqual((await post('/api/sinks/backup/enable')).json(), { name: 'backup', state: 'active' });
    const test = (await post('/api/sinks/siem/test')).json() as { id: string };
    assert.match(test.id, /^msg_test_/);
    assert.deepEqual(fx.store.get(test.id)!.deliveries.map((d) => d.sink), ['siem']);
    const rej = (await get('/api/rejections')).json().rejections;
    assert.deepEqual(rej.map((r: { caller: string; code: string }) => [r.caller, r.code]), [['intruder', 'ERR_WEBHOOK_SIGNATURE_MISMATCH']]);
  });
});

describe('admin token guesses (inject, fake clock)', () => {
  let fx: AdminFixture;
  before(async () => {
    fx = await adminFixture({ fakeClock: true });
  });
  after(() => fx.close());

  it('after 20 wrong tokens every check answers 429 with Retry-After, the right token too; one guess per 3 s after that; missing tokens cost nothing', async () => {
    const app = fx.app();
    await app.ready();
    const metrics = (authorization?: string) => app.inject({ method: 'GET', url: '/metrics', headers: authorization === undefined ? {} : { authorization } });
    for (let i = 0; i < 50; i++) assert.equal((await metrics()).statusCode, 401, 'no token is not a guess');
    for (let i = 0; i < 19; i++) assert.equal((await metrics('Bearer wrong-token')).statusCode, 401);
    const login = await app.inject({ method: 'POST', url: '/login', payload: { token: 'wrong-too' } });
    assert.equal(login.statusCode, 401, 'the 20th guess, through the login form, is still checked');
    for (const res of [await metrics('Bearer wrong-token'), await metrics(`Bearer ${ADMIN_TOKEN}`), await app.inject({ method: 'POST', url: '/login', payload: { token: ADMIN_TOKEN } })]) {
      assert.equal(res.statusCode, 429);
      assert.equal(res.json().code, 'ERR_RECEIVER_ADMIN_THROTTLED');
      assert.equal(res.headers['retry-after'], '3');
      assert.equal(res.headers['set-cookie'], undefined);
    }
    fx.clock.now += 3_000;
    assert.equal((await metrics(`Bearer ${ADMIN_TOKEN}`)).statusCode, 200, 'the refilled guess lets the right token in');
    assert.equal((await metrics('Bearer wrong-token')).statusCode, 401, 'a right token costs nothing: the refill is still there');
    assert.equal((await metrics(`Bearer ${ADMIN_TOKEN}`)).statusCode, 429, 'the wrong guess spent the refill');
    fx.clock.now += 60 * 3_000;
    for (let i = 0; i < 20; i++) assert.equal((await metrics('Bearer wrong-token')).statusCode, 401, 'the burst refills over time');
    assert.equal((await metrics(`Bearer ${ADMIN_TOKEN}`)).statusCode, 429);
  });
});

describe('admin list at 100,000 messages', () => {
  let fx: AdminFixture;
  const t0 = Date.now() - 200_000_000;
  before(async () => {
    fx = await adminFixture();
    for (let b = 0; b < 100; b++) {
      const batch = Array.from({ length: 1_000 }, (_, i) => {
        const n = b * 1_000 + i;
        return routed(`msg_${String(n).padStart(6, '0')}`, { type: ['push', 'pull_request', 'alert'][n % 3]!, route: n % 2 === 0 ? '/alerts' : '/github', sinks: n % 7 === 0 ? ['backup'] : [] });
      });
      fx.store.ingest(batch, t0 + b * 1_000_000);
    }
  });
  after(() => fx.close());

  it('serves every filter from an index and never sorts the matches of a newest-first page', async () => {
    const now = Date.now();
    const lists = ['status=pending', 'route=/github', 'type=alert', 'before=50000', 'after=50000', 'status=stored&since=30h', 'type=push&route=/alerts'];
    for (const raw of lists) {
      const { list } = fx.store.queryPlan(parseMessageQuery(Object.fromEntries(new URLSearchParams(raw)), now));
      const plan = list.join(' | ');
      assert.match(plan, /USING (COVERING )?INDEX|USING INTEGER PRIMARY KEY/, `${raw}: ${plan}`);
      assert.doesNotMatch(plan, /TEMP B-TREE FOR ORDER BY/, `${raw}: ${plan}`);
    }
    // No filter: the table itself in rowid order, stopping after the page (no sort); counts from the status index alone.
    const plain = fx.store.queryPlan({ limit: 50 });
    assert.doesNotMatch(plain.list.join(' | '), /TEMP B-TREE/);
    assert.match(plain.counts.join(' | '), /COVERING INDEX messages_status_seq/);
    // An id prefix seeks the primary-key index; only its matches are sorted.
    assert.match(fx.store.queryPlan({ idPrefix: 'msg_0999' }).list.join(' | '), /SEARCH m USING INDEX sqlite_autoindex_messages_1 \(id>\? AND id<\?\)/);
    // A sink filter reads each row's delivery through the (message_id, sink) index.
    assert.match(fx.store.queryPlan({ sink: 'backup' }).list.join(' | '), /SEARCH d USING COVERING INDEX sqlite_autoindex_deliveries_1|SEARCH d EXISTS USING COVERING INDEX/);

    const app = fx.app();
    const res = await app.inject({ method: 'GET', url: '/api/messages?limit=50&status=pending', headers: BEARER });
    const body = res.json() as { messages: { id: string }[]; counts: Record<string, number>; next: number };
    assert.equal(body.messages.length, 50);
    assert.equal(body.messages[0]!.id, 'msg_099995', 'newest pending first (every 7th has a sink)');
    assert.deepEqual(body.counts, { stored: 85_714, pending: 14_286, delivered: 0, dead: 0, filtered: 0 });
  });
});
