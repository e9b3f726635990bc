/** The `darkhook send` progress display: the bar renderer, the display choice, and the throttled tracker. */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import {
  BAR_MAX_CELLS,
  chooseDisplay,
  DEFAULT_LINE_INTERVAL_MS,
  DEFAULT_REDRAW_INTERVAL_MS,
  type ProgressCounts,
  ProgressDisplay,
  ProgressTracker,
  renderBar,
} from '../../cli/progress.js';

const counts = (total: number, delivered = 0, parked = 0, retries = 0): ProgressCounts => ({ total, delivered, parked, retries });

describe('renderBar', () => {
  it('0 %: an empty bar of full width and every count, the count padded to the total\'s width', () => {
    assert.equal(renderBar(counts(1200), 80), `[${'-'.repeat(30)}]    0/1200 delivered, 0 parked, 0 retries`);
  });

  it('partial: filled in proportion, rounded down so an almost-done run never looks done', () => {
    assert.equal(renderBar(counts(4, 2, 0, 1), 80), `[${'#'.repeat(15)}${'-'.repeat(15)}] 2/4 delivered, 0 parked, 1 retries`);
    assert.equal(renderBar(counts(1200, 1199), 80), `[${'#'.repeat(29)}-] 1199/1200 delivered, 0 parked, 0 retries`);
    const widths = new Set([0, 1, 9, 10, 99, 100, 999, 1000, 1200].map((d) => renderBar(counts(1200, d), 60).length));
    assert.deepEqual([...widths], [59], 'the line keeps its width while the count grows');
  });

  it('100 %: a full bar', () => {
    assert.equal(renderBar(counts(1200, 1200, 0, 3), 80), `[${'#'.repeat(30)}] 1200/1200 delivered, 0 parked, 3 retries`);
  });

  it('parked messages count as done and show as x, a single one included', () => {
    assert.equal(renderBar(counts(10, 5, 5), 80), `[${'#'.repeat(15)}${'x'.repeat(15)}]  5/10 delivered, 5 parked, 0 retries`);
    assert.equal(renderBar(counts(1200, 1199, 1), 80), `[${'#'.repeat(29)}x] 1199/1200 delivered, 1 parked, 0 retries`);
    assert.equal(renderBar(counts(4, 0, 2), 80), `[${'x'.repeat(15)}${'-'.repeat(15)}] 0/4 delivered, 2 parked, 0 retries`);
  });

  it('totals of 1 and 0, and counts past the total, stay within the bar', () => {
    assert.equal(renderBar(counts(1), 80), `[${'-'.repeat(30)}] 0/1 delivered, 0 parked, 0 retries`);
    assert.equal(renderBar(counts(1, 1), 80), `[${'#'.repeat(30)}] 1/1 delivered, 0 parked, 0 retries`);
    assert.equal(renderBar(counts(0), 80), `[${'#'.repeat(30)}] 0/0 delivered, 0 parked, 0 retries`);
    assert.match(renderBar(counts(2, 3, 1), 80), /^\[[#x]{30}\] 3\/2 delivered/);
  });

  it('narrow terminals: the bar shrinks, then goes, then the parked and retry counts go', () => {
    // "1200/1200 delivered, 0 parked, 0 retries" is 40 characters; the last column stays free.
    assert.equal(renderBar(counts(1200, 1200), 60), `[${'#'.repeat(16)}] 1200/1200 delivered, 0 parked, 0 retries`);
    // " 600/1200 delivered, 0 parked, 0 retries" is 40 too: 54 columns leave room for the narrowest bar, 53 do not.
    assert.equal(renderBar(counts(1200, 600), 54), `[${'#'.repeat(5)}${'-'.repeat(5)}]  600/1200 delivered, 0 parked, 0 retries`);
    assert.equal(renderBar(counts(1200, 600), 53), ' 600/1200 delivered, 0 parked, 0 retries');
    assert.equal(renderBar(counts(1200, 600), 200).length, BAR_MAX_CELLS + 2 + 1 + 40, 'the bar stops growing at its maximum');
    assert.equal(renderBar(counts(1200, 600), 30), ' 600/1200 delivered, 0 parked');
    assert.equal(renderBar(counts(1200, 600), 29), ' 600/1200');
    assert.equal(renderBar(counts(1200, 600), 12), ' 600/1200');
    assert.equal(renderBar(counts(1200, 600), 5), '600/');
    assert.equal(renderBar(counts(1200, 600), 1), '6');
  });

  it('no reported width means 80 columns; no line ever reaches the last column', () => {
    assert.equal(renderBar(counts(9, 3), undefined), renderBar(counts(9, 3), 80));
    assert.equal(renderBar(counts(9, 3), 0), renderBar(counts(9, 3), 80));
    for (let columns = 1; columns <= 120; columns += 1) {
      for (const c of [counts(1200), counts(1200, 600, 7, 12), counts(123456, 123456, 0, 99999)]) {
        const line = renderBar(c, columns);
        assert.ok(line.length <= Math.max(1, columns - 1), `${columns} columns: ${JSON.stringify(line)}`);
        assert.ok(line.length > 0);
      }
    }
  });
});

describe('chooseDisplay', () => {
  it('a bar only on a terminal without --json; nothing when info logs are off', () => {
    assert.equal(chooseDisplay({ isTTY: true, json: false, infoEnabled: true }), ProgressDisplay.bar);
    assert.equal(chooseDisplay({ isTTY: false, json: false, infoEnabled: true }), ProgressDisplay.lines);
    assert.equal(chooseDisplay({ isTTY: true, json: true, infoEnabled: true }), ProgressDisplay.lines);
    assert.equal(chooseDisplay({ isTTY: true, json: false, infoEnabled: false }), ProgressDisplay.off);
    assert.equal(chooseDisplay({ isTTY: false, json: true, infoEnabled: false }), ProgressDisplay.off);
  });
});

/** A tracker whose terminal writes and log lines are recorded. */
function harness(display: ProgressDisplay, columns: number | undefined = 80) {
  const writes: string[] = [];
  const logs: { msg: string; fields: Record<string, unknown> }[] = [];
  const width = { columns };
  const tracker = new ProgressTracker({
    display,
    write: (text) => void writes.push(text),
    columns: () => width.columns,
    log: (fields, msg) => void logs.push({ msg, fields }),
  });
  /** The delivered count of each bar drawn so far. */
  const drawn = (): number[] => writes.filter((w) => w.startsWith('\r')).map((w) => Number(/ (\d+)\/\d+ delivered/.exec(w)![1]));
  return { tracker, writes, logs, width, drawn };
}

describe('ProgressTracker', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 }));
  afterEach(() => mock.timers.reset());

  it('bar: drawn at start, at most once per interval, the latest state drawn when the interval ends', () => {
    const h = harness(ProgressDisplay.bar);
    h.tracker.start(1200);
    assert.deepEqual(h.drawn(), [0], '0 of N is drawn at once');
    // A burst of 100 batches inside one interval: no redraw until the interval ends, then one.
    for (let i = 0; i < 10; i += 1) h.tracker.delivered(10);
    assert.deepEqual(h.drawn(), [0]);
    mock.timers.tick(DEFAULT_REDRAW_INTERVAL_MS - 1);
    assert.deepEqual(h.drawn(), [0]);
    mock.timers.tick(1);
    assert.deepEqual(h.drawn(), [0, 100]);
    // Batches every 10 ms for a second: about 10 redraws, not 100.
    for (let i = 0; i < 100; i += 1) {
      mock.timers.tick(10);
      h.tracker.delivered(10);
    }
    const redraws = h.drawn().length - 2;
    assert.ok(redraws >= 9 && redraws <= 11, `${redraws} redraws in one second`);
    assert.ok(h.drawn().every((n, i, all) => i === 0 || n > all[i - 1]!), 'counts only grow');
    assert.ok(!h.writes.includes('\n'), 'no newline while running');
  });

  it('bar: an event that is due draws at once and cancels the pending trailing redraw', () => {
    const h = harness(ProgressDisplay.bar);
    h.tracker.start(1200);
    mock.timers.tick(50);
    h.tracker.delivered(100);
    // A busy event loop: the next batch lands after the trailing redraw was due but before it ran.
    mock.timers.setTime(Date.now() + 60);
    h.tracker.delivered(100);
    assert.deepEqual(h.drawn(), [0, 200]);
    mock.timers.tick(1_000);
    assert.deepEqual(h.drawn(), [0, 200], 'the same line is not drawn twice');
  });

  it('bar: finish draws the final state at once (even mid-interval) and ends the line, once', () => {
    const h = harness(ProgressDisplay.bar);
    h.tracker.start(1200);
    h.tracker.delivered(1100);
    h.tracker.delivered(100);
    h.tracker.finish();
    h.tracker.finish();
    assert.deepEqual(h.drawn(), [0, 1200]);
    assert.match(h.writes.at(-2)!, /^\r\[#{30}\] 1200\/1200 delivered, 0 parked, 0 retries$/);
    assert.equal(h.writes.at(-1), '\n');
    assert.equal(h.writes.filter((w) => w === '\n').length, 1);
    mock.timers.tick(1_000);
    assert.equal(h.writes.length, 3, 'the pending redraw was cancelled');
    h.tracker.delivered(1);
    assert.equal(h.writes.length, 3, 'nothing is drawn after finish');
  });

  it('bar: a failed run still ends its line, showing where it stopped; no bar before start', () => {
    const h = harness(ProgressDisplay.bar);
    h.tracker.finish();
    assert.deepEqual(h.writes, [], 'an error before sending draws nothing');

    const failed = harness(ProgressDisplay.bar);
    failed.tracker.start(50);
    mock.timers.tick(500);
    failed.tracker.delivered(20);
    failed.tracker.finish();
    assert.deepEqual(failed.writes.slice(-2), [`\r[${'#'.repeat(12)}${'-'.repeat(18)}] 20/50 delivered, 0 parked, 0 retries`, '\n']);
  });

  it('bar: a run that only retries shows each retry (after the interval), with no log lines', () => {
    const h = harness(ProgressDisplay.bar);
    h.tracker.start(5);
    for (let attempt = 1; attempt <= 3; attempt += 1) {
      mock.timers.tick(1_000 * attempt);
      h.tracker.retry(attempt, 1_000, 'ERR_ZITI_CONTROLLER_UNAVAILABLE');
      assert.match(h.writes.at(-1)!, new RegExp(`\\] 0/5 delivered, 0 parked, ${attempt} retries$`));
    }
    assert.deepEqual(h.logs, []);
  });

  it('bar: redrawn to the current width, blanking what a wider line left behind', () => {
    const h = harness(ProgressDisplay.bar, 80);
    h.tracker.start(1200);
    h.width.columns = 45;
    mock.timers.tick(DEFAULT_REDRAW_INTERVAL_MS);
    h.tracker.delivered(600);
    const line = h.writes.at(-1)!;
    assert.equal(line, `\r 600/1200 delivered, 0 parked, 0 retries${' '.repeat(4)}`, 'padded to the edge, not past it');
    assert.ok(line.length - 1 <= 44);
  });

  it('a run of 1 gets no bar and no progress lines, but each retry and parked batch is logged', () => {
    const h = harness(ProgressDisplay.bar);
    h.tracker.start(1);
    h.tracker.retry(1, 500, 'HTTP 503');
    h.tracker.parked(1, 'HTTP 400: bad request');
    mock.timers.tick(10_000);
    h.tracker.finish();
    assert.deepEqual(h.writes, []);
    assert.deepEqual(h.logs, [
      { msg: 'retrying', fields: { attempt: 1, delayMs: 500, reason: 'HTTP 503' } },
      { msg: 'parked', fields: { count: 1, reason: 'HTTP 400: bad request' } },
    ]);
  });

  it('lines: no terminal writes; a progress line at most every interval, and the final state once', () => {
    const h = harness(ProgressDisplay.lines);
    h.tracker.start(1200);
    for (let i = 0; i < 50; i += 1) {
      mock.timers.tick(100);
      h.tracker.delivered(20);
    }
    // 5 s of batches: lines at 2 s and 4 s after start.
    const progress = () => h.logs.filter((l) => l.msg === 'progress').map((l) => l.fields);
    assert.deepEqual(progress().map((f) => f.delivered), [400, 800]);
    h.tracker.retry(1, 250, 'HTTP 502');
    h.tracker.delivered(200);
    h.tracker.finish();
    h.tracker.finish();
    assert.deepEqual(progress().at(-1), { delivered: 1200, parked: 0, retries: 1, total: 1200 });
    assert.equal(progress().length, 3);
    assert.ok(h.logs.some((l) => l.msg === 'retrying'));
    assert.deepEqual(h.writes, []);

    const quiet = harness(ProgressDisplay.lines);
    quiet.tracker.start(2);
    mock.timers.tick(DEFAULT_LINE_INTERVAL_MS);
    quiet.tracker.delivered(2);
    quiet.tracker.finish();
    assert.deepEqual(quiet.logs.map((l) => l.fields.delivered), [2], 'the final state is not logged twice');
  });

  it('off: nothing is written or logged, whatever happens', () => {
    const h = harness(ProgressDisplay.off);
    h.tracker.start(1200);
    h.tracker.retry(1, 100, 'HTTP 503');
    h.tracker.parked(10, 'HTTP 400');
    h.tracker.delivered(1190);
    mock.timers.tick(10_000);
    h.tracker.finish();
    assert.deepEqual(h.writes, []);
    assert.deepEqual(h.logs, []);
    assert.deepEqual(h.tracker.counts, { total: 1200, delivered: 1190, parked: 10, retries: 1 });
  });
});
