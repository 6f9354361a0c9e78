import type { Clock } from '../util/clock.js';
import type { CallerStatus } from './store.js';

/**
 * The caller's status, remembered for a second. Reading it was a third of a single lookup's
 * cost. Writes in this process invalidate at once; changes made by another node (or a CLI import)
 * are seen within the TTL, a bound that matters little for stopping a scraper.
 */
export class CallerStatusCache {
  private readonly entries = new Map<string, { status: CallerStatus; until: number }>();

  constructor(
    private readonly load: (accountId: string) => Promise<CallerStatus>,
    private readonly clock: Clock,
    private readonly ttlMs = 1000,
    private readonly maxEntries = 100_000,
  ) {}

  /**
   * The status held and still fresh, without a promise (the lookup path's fast way); null when
   * get() would read it. undefined is a status too: an account not mirrored.
   */
  cached(accountId: string): CallerStatus | null {
    const hit = this.entries.get(accountId);
    return hit && hit.until > this.clock.now() ? hit.status : null;
  }

  async get(accountId: string): Promise<CallerStatus> {
    const now = this.clock.now();
    const hit = this.entries.get(accountId);
    if (hit && hit.until > now) return hit.status;
    const status = await this.load(accountId);
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    this.entries.delete(accountId);
    this.entries.set(accountId, { status, until: now + this.ttlMs });
    return status;
  }

  invalidate(accountIds: Iterable<string>): void {
    for (const id of accountIds) this.entries.delete(id);
  }

  clear(): void {
    this.entries.clear();
  }
}
