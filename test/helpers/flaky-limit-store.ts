import { MemoryLimitStore } from '../../src/limits/memory-store.js';
import { LimitStoreError, type ApplyInput, type ApplyResult, type LimitStore } from '../../src/limits/store.js';

/**
 * The real in-process limits store, out of reach while `down` is set, as Redis is when it has gone
 * away: its state survives the outage, as Redis's does. With `loseReplies` the store charges the
 * call and the reply is lost on the way back (a connection cut after the command ran).
 */
export class FlakyLimitStore implements LimitStore {
  readonly kind = 'redis' as const;
  private readonly inner = new MemoryLimitStore();
  down = false;
  loseReplies = false;

  async apply(input: ApplyInput): Promise<ApplyResult> {
    if (this.down) throw new LimitStoreError('connection lost');
    const result = await this.inner.apply(input);
    if (this.loseReplies) throw new LimitStoreError('connection lost before the reply');
    return result;
  }
  useOnce(key: string, ttlMs: number, now: number): Promise<boolean> {
    return this.down ? Promise.reject(new LimitStoreError('connection lost')) : this.inner.useOnce(key, ttlMs, now);
  }
  strikes(key: string, now: number): Promise<number> {
    return this.inner.strikes(key, now);
  }
  ping(): Promise<void> {
    return this.down ? Promise.reject(new LimitStoreError('connection lost')) : this.inner.ping();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
