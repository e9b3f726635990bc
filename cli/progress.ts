/** Progress of a `darkhook send` run on stderr: a pure bar renderer and a throttled tracker around it. */

/** What the progress display counts. */
export interface ProgressCounts {
  /** Messages this run set out to deliver (resumed + queued). */
  readonly total: number;
  /** Messages the receiver accepted. */
  readonly delivered: number;
  /** Messages the receiver refused for good. */
  readonly parked: number;
  /** Failed attempts that will be (or were) tried again. */
  readonly retries: number;
}

/** Widest bar between the brackets, in cells. */
export const BAR_MAX_CELLS = 30;
/** Narrowest bar worth drawing, in cells; below it only the counts are shown. */
export const BAR_MIN_CELLS = 10;
/** Terminal width assumed when the terminal reports none (undefined or 0), in columns. */
export const DEFAULT_COLUMNS = 80;
/** Smallest run that gets a bar, in messages: one message has nothing to show between 0 and done. */
export const MIN_BAR_TOTAL = 2;
/** Bar redraws at most this often (10 per second), in milliseconds; the final state is always drawn. */
export const DEFAULT_REDRAW_INTERVAL_MS = 100;
/** `progress` log lines at most this often when there is no bar, in milliseconds. */
export const DEFAULT_LINE_INTERVAL_MS = 2_000;

/**
 * One bar line that fits in `columns` (the last column stays free: writing it makes some terminals
 * wrap). `#` is delivered, `x` parked, `-` still to do; the filled part only reaches the end when
 * every message is done. Narrow terminals lose the bar first, then the parked and retry counts.
 * @example renderBar({ total: 4, delivered: 2, parked: 0, retries: 1 }, 80)
 * // '[###############---------------] 2/4 delivered, 0 parked, 1 retries'
 * renderBar({ total: 1200, delivered: 0, parked: 0, retries: 0 }, 40)
 * // '   0/1200 delivered, 0 parked'
 */
export function renderBar(counts: ProgressCounts, columns: number | undefined): string {
  const total = Math.max(0, counts.total);
  const delivered = Math.max(0, counts.delivered);
  const parked = Math.max(0, counts.parked);
  const fit = Math.max(1, (columns !== undefined && columns > 0 ? columns : DEFAULT_COLUMNS) - 1);
  // Padded to the total's width, so the text, and so the bar, keep their width as the count grows.
  const done = `${String(delivered).padStart(String(total).length)}/${total}`;
  const text = `${done} delivered, ${parked} parked, ${counts.retries} retries`;
  const cells = Math.min(BAR_MAX_CELLS, fit - text.length - 3);
  if (cells >= BAR_MIN_CELLS) {
    // Integer arithmetic, rounded down: 1199 of 1200 never looks finished.
    const filled = total === 0 ? cells : Math.floor((Math.min(total, delivered + parked) * cells) / total);
    // Rounded up: a single parked message shows as soon as anything is filled.
    const parkedCells = total === 0 ? 0 : Math.min(filled, Math.ceil((Math.min(parked, total) * cells) / total));
    return `[${'#'.repeat(filled - parkedCells)}${'x'.repeat(parkedCells)}${'-'.repeat(cells - filled)}] ${text}`;
  }
  for (const shorter of [text, `${done} delivered, ${parked} parked`, done]) {
    if (shorter.length <= fit) return shorter;
  }
  return `${delivered}/${total}`.slice(0, fit);
}

/** How progress is shown: a redrawn bar, log lines, or nothing. */
export const ProgressDisplay = Object.freeze({ bar: 'bar', lines: 'lines', off: 'off' } as const);
/** One of `ProgressDisplay`'s values. */
export type ProgressDisplay = (typeof ProgressDisplay)[keyof typeof ProgressDisplay];

/**
 * The display for a run: nothing when info logs are off (`--log-level warn` or quieter); log lines
 * when stderr is not a terminal or with `--json` (stderr then carries JSON log lines that a `\r` bar
 * would corrupt); a bar otherwise.
 */
export function chooseDisplay(env: { readonly isTTY: boolean; readonly json: boolean; readonly infoEnabled: boolean }): ProgressDisplay {
  if (!env.infoEnabled) return ProgressDisplay.off;
  return env.isTTY && !env.json ? ProgressDisplay.bar : ProgressDisplay.lines;
}

/** Where a tracker draws and logs. */
export interface ProgressOptions {
  /** From `chooseDisplay`; a bar turns into lines for runs smaller than `MIN_BAR_TOTAL`. */
  readonly display: ProgressDisplay;
  /** Writes raw text to the terminal (stderr). */
  readonly write: (text: string) => void;
  /** The terminal width now, in columns; read at each redraw because windows get resized. */
  readonly columns: () => number | undefined;
  /** Logs one line: fields, then a short constant message. */
  readonly log: (fields: Record<string, unknown>, msg: string) => void;
  /** Bar redraws at most this often, in milliseconds; default `DEFAULT_REDRAW_INTERVAL_MS`. */
  readonly redrawIntervalMs?: number;
  /** `progress` lines at most this often, in milliseconds; default `DEFAULT_LINE_INTERVAL_MS`. */
  readonly lineIntervalMs?: number;
}

/**
 * Counts sender events and shows them. Events before `start` are counted but not shown (the
 * `sending` log line goes first, so it never lands in the middle of a bar). Uses `Date.now` and
 * `setTimeout`, so tests drive it with `mock.timers`.
 */
export class ProgressTracker {
  readonly #options: Required<ProgressOptions>;
  #display: ProgressDisplay;
  #total = 0;
  #delivered = 0;
  #parked = 0;
  #retries = 0;
  #started = false;
  #finished = false;
  #lastShownAt = -Infinity;
  #lastShown = '';
  #drawnWidth = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: ProgressOptions) {
    this.#options = Object.freeze({
      ...options,
      redrawIntervalMs: options.redrawIntervalMs ?? DEFAULT_REDRAW_INTERVAL_MS,
      lineIntervalMs: options.lineIntervalMs ?? DEFAULT_LINE_INTERVAL_MS,
    });
    this.#display = options.display;
  }

  /** The counts so far. */
  get counts(): ProgressCounts {
    return { total: this.#total, delivered: this.#delivered, parked: this.#parked, retries: this.#retries };
  }

  /** Begin showing a run of `total` messages; a bar is drawn at once (0 of N is already news). */
  start(total: number): void {
    if (this.#started || this.#finished) return;
    this.#started = true;
    this.#total = total;
    if (this.#display === ProgressDisplay.bar && total < MIN_BAR_TOTAL) this.#display = ProgressDisplay.lines;
    if (this.#display === ProgressDisplay.bar) this.#draw();
    // Log lines: the first `progress` line comes one full interval after the `sending` line.
    else this.#lastShownAt = Date.now();
  }

  /** Messages accepted by the receiver. */
  delivered(count: number): void {
    this.#delivered += count;
    this.#changed();
  }

  /** Messages refused for good; logged at once when there is no bar. */
  parked(count: number, reason: string): void {
    this.#parked += count;
    if (this.#started && this.#display === ProgressDisplay.lines) this.#options.log({ count, reason }, 'parked');
    this.#changed();
  }

  /** A failed attempt to be tried again; logged at once when there is no bar. */
  retry(attempt: number, delayMs: number, reason: string): void {
    this.#retries += 1;
    if (this.#started && this.#display === ProgressDisplay.lines) this.#options.log({ attempt, delayMs, reason }, 'retrying');
    this.#changed();
  }

  /**
   * Show the final state and end the bar's line, on success and on error alike, so whatever is
   * printed next starts on a fresh line. Safe to call more than once.
   */
  finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (!this.#started || this.#total < MIN_BAR_TOTAL) return;
    if (this.#display === ProgressDisplay.bar) {
      this.#draw();
      this.#options.write('\n');
    } else if (this.#display === ProgressDisplay.lines && this.#lastShown !== this.#key()) {
      this.#logLine();
    }
  }

  #key(): string {
    return `${this.#delivered}/${this.#parked}/${this.#retries}`;
  }

  #changed(): void {
    if (!this.#started || this.#finished || this.#total < MIN_BAR_TOTAL) return;
    const wait = this.#lastShownAt + (this.#display === ProgressDisplay.bar ? this.#options.redrawIntervalMs : this.#options.lineIntervalMs) - Date.now();
    if (this.#display === ProgressDisplay.lines) {
      if (wait <= 0) this.#logLine();
    } else if (this.#display === ProgressDisplay.bar) {
      if (wait <= 0) this.#draw();
      // Throttled, but never stale: the latest state is drawn when the interval ends.
      else if (this.#timer === undefined) {
        this.#timer = setTimeout(() => {
          this.#timer = undefined;
          this.#draw();
        }, wait);
        this.#timer.unref();
      }
    }
  }

  #draw(): void {
    // A redraw now makes a pending trailing one redundant (it would repeat this very line).
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const columns = this.#options.columns();
    const line = renderBar(this.counts, columns);
    const fit = Math.max(1, (columns || DEFAULT_COLUMNS) - 1);
    // Blank out what a longer earlier line left behind (after a resize), without passing the edge.
    const pad = Math.max(0, Math.min(this.#drawnWidth, fit) - line.length);
    this.#options.write(`\r${line}${' '.repeat(pad)}`);
    this.#drawnWidth = line.length;
    this.#lastShownAt = Date.now();
    this.#lastShown = this.#key();
  }

  #logLine(): void {
    this.#options.log({ delivered: this.#delivered, parked: this.#parked, retries: this.#retries, total: this.#total }, 'progress');
    this.#lastShownAt = Date.now();
    this.#lastShown = this.#key();
  }
}
