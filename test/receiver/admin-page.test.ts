/**
 * The admin page in a real browser: Debian's chromium driven by playwright-core over a real store
 * file and sink workers posting to a loopback endpoint. Skipped, saying why, without either.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RunningAdmin } from '../../receiver/admin/server.js';
import { ADMIN_TOKEN, type AdminFixture, adminFixture, killDelivery, routed } from './admin-fixture.js';

/** The browser binary: $CHROMIUM_PATH, else Debian's package. */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** Longest wait for one page action or condition, in milliseconds. */
const STEP_TIMEOUT_MS = 15_000;

/** The few playwright-core calls used here (loaded with require so tsc passes where it is not installed). */
interface Locator {
  click(): Promise<void>;
  fill(v: string): Promise<void>;
  selectOption(v: string): Promise<unknown>;
  textContent(): Promise<string | null>;
  count(): Promise<number>;
  isVisible(): Promise<boolean>;
  isDisabled(): Promise<boolean>;
  allTextContents(): Promise<string[]>;
  first(): Locator;
}
interface Page {
  goto(url: string): Promise<unknown>;
  locator(selector: string): Locator;
  on(event: 'dialog', fn: (d: { message(): string; dismiss(): Promise<void> }) => void): void;
  on(event: 'pageerror', fn: (e: Error) => void): void;
  on(event: 'console', fn: (m: { type(): string; text(): string }) => void): void;
  on(event: 'request', fn: (r: { url(): string }) => void): void;
  waitForFunction(fn: () => unknown, arg: undefined, options: { timeout: number }): Promise<unknown>;
  evaluate<T>(expression: string): Promise<T>;
  screenshot(o: { path: string; fullPage: boolean }): Promise<unknown>;
  setDefaultTimeout(ms: number): void;
  context(): { cookies(): Promise<{ name: string; httpOnly: boolean; sameSite: string }[]> };
}
interface Browser {
  newPage(): Promise<Page>;
  close(): Promise<void>;
}
interface Playwright {
  chromium: { launch(o: { executablePath: string; headless: boolean; args: string[] }): Promise<Browser> };
}

function loadPlaywright(): Playwright | string {
  try {
    // require honours NODE_PATH, so a local run may point at a playwright-core installed elsewhere.
    return createRequire(import.meta.url)('playwright-core') as Playwright;
  } catch {
    return 'playwright-core is not installed (npm install; .ci/run installs it)';
  }
}

const playwright = loadPlaywright();
const skip = !existsSync(CHROMIUM) ? `no chromium binary at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM_PATH)` : typeof playwright === 'string' ? playwright : false;

const XSS_TYPE = '"><img src=x onerror=alert(1)>';
const XSS_BODY = '<script>window.__pwned = 1; alert("body")</script>';

describe('admin page in chromium', { skip }, () => {
  let fx: AdminFixture;
  let admin: RunningAdmin;
  let browser: Browser;
  let page: Page;
  let base: string;
  const shots = mkdtempSync(join(tmpdir(), 'darkhook-admin-shots-'));
  const dialogs: string[] = [];
  const problems: string[] = [];
  const requests: string[] = [];

  before(async () => {
    fx = await adminFixture();
    const t0 = Date.now() - 600_000;
    fx.store.ingest([routed('msg_xss_body', { body: Buffer.from(XSS_BODY), headers: { 'content-type': 'text/html' } })], t0);
    fx.store.ingest(
      [
        routed('msg_xss_type', {
          type: XSS_TYPE, route: '/alerts', sinks: ['backup'], caller: '<b onmouseover=alert(5)>caller</b>',
          body: Buffer.from(JSON.stringify({ note: '<script>alert(2)</script>', html: '<img src=x onerror=alert(3)>' })),
          headers: { 'content-type': 'application/json', 'x-evil': '<svg onload=alert(4)>' },
        }),
        routed('msg_dead_2', { route: '/alerts', sinks: ['backup'], type: 'alert' }),
      ],
      t0 + 1_000,
    );
    killDelivery(fx.store, 'backup', t0 + 2_000);
    fx.store.ingest([routed('msg_binary', { body: Buffer.from([0, 1, 2, 0xff, 0xfe, 0x41, 0x42]), headers: { 'content-type': 'application/octet-stream' } })], t0 + 3_000);
    for (let i = 0; i < 40; i++) fx.store.ingest([routed(`msg_plain_${String(i).padStart(2, '0')}`)], t0 + 10_000 + i);
    admin = await fx.listen();
    base = `http://127.0.0.1:${admin.address.port}`;
    browser = await (playwright as Playwright).chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
    page = await browser.newPage();
    page.setDefaultTimeout(STEP_TIMEOUT_MS);
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    page.on('pageerror', (e) => problems.push(`pageerror ${e.message}`));
    page.on('console', (m) => {
      if (/Content Security Policy|Refused to/i.test(m.text())) problems.push(`csp ${m.text()}`);
    });
    page.on('request', (r) => requests.push(r.url()));
  });
  after(async () => {
    await browser?.close();
    await fx?.close();
  });

  // A string predicate would be eval'd inside the page, which its CSP forbids (no 'unsafe-eval'); a
  // function is called through the DevTools protocol instead. Built from text: tsc here has no DOM types.
  const wait = (condition: string): Promise<unknown> => page.waitForFunction(new Function(`return (${condition});`) as () => unknown, undefined, { timeout: STEP_TIMEOUT_MS });

  it('refuses a wrong token and logs in with the right one into an HttpOnly SameSite=Strict cookie', async () => {
    await page.goto(base);
    await wait(`!document.getElementById('login').hidden`);
    await page.locator('#token').fill('not-the-token');
    await page.locator('#login-submit').click();
    await wait(`document.getElementById('login-error').textContent === 'Wrong token.'`);
    assert.equal(await page.locator('#app').isVisible(), false);
    assert.deepEqual(await page.context().cookies(), []);
    await page.locator('#token').fill(ADMIN_TOKEN);
    await page.locator('#login-submit').click();
    await wait(`document.querySelectorAll('#messages tbody tr').length > 0`);
    const cookies = await page.context().cookies();
    assert.deepEqual(cookies.map((c) => [c.name, c.httpOnly, c.sameSite]), [['darkhook_admin', true, 'Strict']]);
    assert.equal(await page.evaluate('document.cookie'), '', 'the session cookie is not readable by script');
  });

  it('lists newest first with counts, pages older and newer, filters by status, and shows the XSS event type as text', async () => {
    await page.locator('#f-limit').selectOption('25');
    await page.locator('#apply').click();
    await wait(`document.querySelectorAll('#messages tbody tr').length === 25`);
    const firstPage = await page.locator('#messages tbody tr td:nth-child(2)').allTextContents();
    assert.equal(firstPage[0], 'msg_plain_39');
    await page.locator('#older').click();
    await wait(`document.querySelector('#messages tbody tr td:nth-child(2)').textContent === 'msg_plain_14'`);
    assert.equal(await page.locator('#messages tbody tr').count(), 19);
    assert.equal(await page.locator('#older').isDisabled(), true, 'the oldest page');
    await page.locator('#newer').click();
    await wait(`document.querySelector('#messages tbody tr td:nth-child(2)').textContent === 'msg_plain_39'`);

    await page.locator('#f-status').selectOption('dead');
    await page.locator('#apply').click();
    await wait(`document.querySelectorAll('#messages tbody tr').length === 2`);
    const types = await page.locator('#messages tbody tr td:nth-child(3)').allTextContents();
    assert.deepEqual(types, ['alert', XSS_TYPE], 'the event type is shown verbatim, as text');
    assert.equal(await page.locator('img').count(), 0, 'no element came from a payload');
    assert.match((await page.locator('#counts [data-status="dead"]').textContent()) ?? '', /^dead 2$/);
    await page.screenshot({ path: join(shots, 'list.png'), fullPage: true });
  });

  it('opens a message: XSS in body, headers and caller rendered inert; resubmit shows the new attempt without a reload', async () => {
    await page.evaluate('window.__sameDocument = true');
    await page.locator('#messages tbody tr[data-id="msg_xss_type"] a').click();
    await wait(`document.getElementById('detail-title').textContent === 'msg_xss_type'`);
    const body = (await page.locator('#detail-body').textContent()) ?? '';
    assert.match(body, /"note": "<script>alert\(2\)<\/script>"/, 'pretty JSON, markup as text');
    assert.equal(await page.locator('#detail-headers td').first().textContent(), 'application/json');
    assert.deepEqual(await page.locator('#detail-headers tr:nth-child(2) td').allTextContents(), ['<svg onload=alert(4)>']);
    assert.equal(await page.locator('#detail-meta dd[data-field="Caller"]').textContent(), '<b onmouseover=alert(5)>caller</b>');
    assert.equal(await page.locator('#detail-meta dd[data-field="Event type"]').textContent(), XSS_TYPE);
    assert.equal(await page.locator('.delivery[data-sink="backup"] .attempts tbody tr').count(), 1);
    await page.screenshot({ path: join(shots, 'detail.png'), fullPage: true });

    await page.locator('.delivery[data-sink="backup"] button.resubmit-sink').click();
    // The backup worker posts to the loopback endpoint (200); the page refreshes itself.
    await wait(`document.querySelectorAll('.delivery[data-sink="backup"] .attempts tbody tr').length === 2`);
    await wait(`document.querySelector('.delivery[data-sink="backup"] [data-state]').dataset.state === 'delivered'`);
    assert.deepEqual(await page.locator('.delivery[data-sink="backup"] .attempts tbody tr:nth-child(2) td:nth-child(3)').allTextContents(), ['delivered']);
    assert.equal(await page.evaluate('window.__sameDocument'), true, 'no reload');
    assert.ok(fx.received.includes('msg_xss_type'));
    assert.equal(fx.store.get('msg_xss_type')!.message.status, 'delivered');
  });

  it('shows a <script> body as text and a binary body in hex', async () => {
    await page.evaluate(`location.hash = '#/message/msg_xss_body'`);
    await wait(`document.getElementById('detail-title').textContent === 'msg_xss_body'`);
    assert.equal(await page.locator('#detail-body').textContent(), XSS_BODY);
    assert.equal(await page.locator('#detail-body script').count(), 0);
    await page.evaluate(`location.hash = '#/message/msg_binary'`);
    await wait(`document.getElementById('detail-title').textContent === 'msg_binary'`);
    assert.match((await page.locator('#detail-body').textContent()) ?? '', /^00000000 {2}00 01 02 ff fe 41 42/);
    assert.match((await page.locator('#body-info').textContent()) ?? '', /binary \(hex\), 7 bytes/);
  });

  it('resubmits every dead delivery after an in-page confirmation', async () => {
    await page.evaluate(`location.hash = '#/messages'`);
    await page.locator('#resubmit-dead').click();
    assert.equal(await page.locator('#confirm-dead').isVisible(), true);
    await page.locator('#confirm-dead-yes').click();
    await wait(`document.getElementById('bulk-result').textContent === '1 dead deliveries queued again'`);
    await wait(`document.querySelectorAll('#messages tbody tr').length === 0`);
  });

  it('disables and enables a sink and queues a test message', async () => {
    await page.evaluate(`location.hash = '#/sinks'`);
    await wait(`document.querySelectorAll('#sinks tbody tr').length === 2`);
    await page.locator('#sinks tr[data-sink="siem"] button[data-action="disable"]').click();
    await wait(`document.querySelector('#sinks tr[data-sink="siem"] [data-state]').textContent === 'disabled: disabled by an operator'`);
    assert.equal(fx.store.sinkState('siem')?.state, 'disabled');
    assert.equal(await page.locator('#sinks tr[data-sink="siem"] button[data-action="disable"]').isDisabled(), true);
    await page.locator('#sinks tr[data-sink="siem"] button[data-action="enable"]').click();
    await wait(`document.querySelector('#sinks tr[data-sink="siem"] [data-state]').textContent === 'active'`);
    assert.equal(fx.store.sinkState('siem')?.state, 'active');
    await page.locator('#sinks tr[data-sink="backup"] button[data-action="test"]').click();
    await wait(`/^test message msg_test_\\w+ queued for backup$/.test(document.getElementById('sink-result').textContent)`);
  });

  it('ran no payload: no dialog, no script error, no CSP violation, no request off the listener or for a payload image', async () => {
    assert.deepEqual(dialogs, []);
    assert.deepEqual(problems, []);
    assert.equal(await page.evaluate('window.__pwned'), undefined);
    assert.deepEqual(requests.filter((u) => !u.startsWith(`${base}/`)), []);
    assert.deepEqual(requests.filter((u) => new URL(u).pathname === '/x'), []);
    for (const f of ['list.png', 'detail.png']) assert.ok(statSync(join(shots, f)).size > 1_000, f);
  });

  it('logs out: the page asks for the token again and the API refuses the old cookie', async () => {
    await page.locator('#logout').click();
    await wait(`!document.getElementById('login').hidden`);
    const status = await page.evaluate(`fetch('/api/messages').then((r) => r.status)`);
    assert.equal(status, 401);
  });
});
