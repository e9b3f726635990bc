/**
 * A limit on wrong admin tokens: a bucket of `burst` guesses that refills one every `refillMs`.
 * While it is empty every token check is refused without being made, so guessing the token on
 * loopback runs at one try per `refillMs` however many requests are sent. A missing token or an
 * unknown session cookie is not a guess and costs nothing.
 */

/** Wrong tokens accepted in a row before the limit starts. */
export const DEFAULT_GUESS_BURST = 20;
/** Once the burst is spent, one more guess every this many milliseconds. */
export const DEFAULT_GUESS_REFILL_MS = 3_000;

/** Counts wrong tokens over time; the admin app asks it before checking a token. */
export class GuessThrottle {
  readonly #now: () => number;
  readonly #burst: number;
  readonly #refillMs: number;
  #tokens: number;
  #at: number;

  constructor(now: () => number, burst: number = DEFAULT_GUESS_BURST, refillMs: number = DEFAULT_GUESS_REFILL_MS) {
    this.#now = now;
    this.#burst = burst;
    this.#refillMs = refillMs;
    this.#tokens = burst;
    this.#at = now();
  }

  /** 0 when a token may be checked now, else the milliseconds until one may. */
  retryAfterMs(): number {
    this.#refill();
    return this.#tokens >= 1 ? 0 : Math.ceil((1 - this.#tokens) * this.#refillMs);
  }

  /** Record a wrong token. */
  wrong(): void {
    this.#refill();
    this.#tokens = Math.max(0, this.#tokens - 1);
  }

  #refill(): void {
    const now = this.#now();
    const elapsed = Math.max(0, now - this.#at);
    this.#at = now;
    this.#tokens = Math.min(this.#burst, this.#tokens + elapsed / this.#refillMs);
  }
}
