import type { Random } from './random.js';

/**
 * Exponential backoff, one rule for every retry loop (webhook deliveries, event writes, handing
 * events to the engine, the event consumer): try `attempt` (1, 2, …) waits `baseMs · 2^(attempt-1)`,
 * at most `maxMs`.
 *
 * With `random`, "equal jitter": half the delay is fixed, half random. Retries of many failures
 * spread out instead of hitting a recovering endpoint at the same instant, and no retry comes
 * sooner than half its nominal delay. Without it the delay is exact (a loop that retries alone).
 */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random?: Pick<Random, 'float'>): number {
  const nominal = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return random ? Math.round(nominal / 2 + (random.float() * nominal) / 2) : nominal;
}

/** The backoff of a loop that retries until it works: failed() gives the next delay, succeeded() starts over. */
export class Backoff {
  private attempts = 0;
  private delay = 0;

  constructor(private readonly opts: { baseMs: number; maxMs: number; random?: Pick<Random, 'float'> }) {}

  /** The delay the last failure asked for; 0 after a success (or before any failure). */
  get ms(): number {
    return this.delay;
  }

  /** After a failure: how long to wait before the next try (the first failure waits baseMs). */
  failed(): number {
    this.attempts++;
    this.delay = backoffDelay(this.attempts, this.opts.baseMs, this.opts.maxMs, this.opts.random);
    return this.delay;
  }

  /** After a success: the next failure waits baseMs again. */
  succeeded(): void {
    this.attempts = 0;
    this.delay = 0;
  }
}
