/**
 * "Log once per outage, then log the recovery": a dependency that fails on every call (a store,
 * a bus, a database read) logs its first failure and its return, not every failed try between.
 * What is logged, and how, stays with the caller.
 */
export class OutageLog {
  private down = false;

  constructor(
    private readonly log: {
      /** The first failure of an outage. */
      down: (err: unknown) => void;
      /** The first success after it (none: the recovery is not logged). */
      up?: () => void;
    },
  ) {}

  /** Whether the last try failed. */
  get failing(): boolean {
    return this.down;
  }

  /** A failed try: logged only if it starts an outage. Returns whether it did. */
  failed(err: unknown): boolean {
    if (this.down) return false;
    this.down = true;
    this.log.down(err);
    return true;
  }

  /** A successful try: ends an outage (logging the recovery) if one was on. Returns whether it did. */
  ok(): boolean {
    if (!this.down) return false;
    this.down = false;
    this.log.up?.();
    return true;
  }
}

/** An error's message for a log line (the object itself may carry what must not be logged). */
export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
