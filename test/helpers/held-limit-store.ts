import { MemoryLimitStore } from '../../src/limits/memory-store.js';
import type { ApplyInput, ApplyResult, LimitStore } from '../../src/limits/store.js';

/**
 * The real in-process limits store, held at its next apply() until the test lets it go: it stands
 * for the time any call spends between authorisation and the directory read (a Redis round trip,
 * the match pool), so a test can change the world while a call is in flight.
 */
export class HeldLimitStore implements LimitStore {
  readonly kind = 'memory' as const;
  private readonly inner = new MemoryLimitStore();
  private held: Promise<void> | undefined;
  private release: (() => void) | undefined;
  /** Resolves when a held apply() has been reached. */
  reached: Promise<void> = Promise.resolve();
  private onReach: (() => void) | undefined;

  holdNext(): void {
    this.held = new Promise((r) => (this.release = r));
    this.reached = new Promise((r) => (this.onReach = r));
  }

  letGo(): void {
    this.release?.();
  }

  async apply(input: ApplyInput): Promise<ApplyResult> {
    const held = this.held;
    if (held) {
      this.held = undefined;
      this.onReach?.();
      await held;
    }
    return this.inner.apply(input);
  }

  useOnce(key: string, ttlMs: number, now: number): Promise<boolean> {
    return this.inner.useOnce(key, ttlMs, now);
  }

  strikes(key: string, now: number): Promise<number> {
    return this.inner.strikes(key, now);
  }

  ping(): Promise<void> {
    return this.inner.ping();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
