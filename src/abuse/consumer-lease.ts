import type { Redis } from 'ioredis';

/**
 * The single-consumer lease of one stream (`<stream>:leader`): one key, set only if absent, with
 * a time to live, renewed and released only by its holder. Only the holder reads the stream, so
 * the engine's windows see every event of an account (redis-consumer.ts).
 */

/** held: still ours (renewed); taken: it was free and is ours now; other: another consumer holds it. */
export type LeaseAnswer = 'held' | 'taken' | 'other';

/** 1: still ours (renewed); 2: newly ours; 0: another consumer holds it. */
const LEASE_SCRIPT = `
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if not v then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 2 end
return 0`;
const RELEASE_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

export class ConsumerLease {
  /** Whether the last answer left the lease ours (to release on stop). */
  private ours = false;

  constructor(
    private readonly redis: Redis,
    readonly key: string,
    private readonly name: string,
    readonly ms: number,
  ) {}

  /** Takes the lease if it is free, renews it if it is ours. */
  async acquire(): Promise<LeaseAnswer> {
    const r = Number(await this.redis.eval(LEASE_SCRIPT, 1, this.key, this.name, this.ms));
    this.ours = r !== 0;
    return r === 1 ? 'held' : r === 2 ? 'taken' : 'other';
  }

  /** Hands the lease over at once, if it is ours, rather than make a standby wait it out. */
  async release(): Promise<void> {
    if (!this.ours) return;
    this.ours = false;
    await this.redis.eval(RELEASE_SCRIPT, 1, this.key, this.name);
  }

  /**
   * Runs `work` (the engine's rebuild, which may outlast the lease: a day's events replayed) while
   * renewing the lease every third of its length, then renews it once more. The answer is 'held'
   * only if the lease stayed ours throughout: 'taken' when it lapsed meanwhile (another consumer
   * may have read and stored events the rebuild did not see), 'other' when another consumer holds
   * it now. A renewal that fails (Redis unreachable) is not an answer: the last renewal decides.
   * `work` cannot be cut short (EventProcessor.resume takes no signal), so it is always awaited:
   * a second rebuild must never start beside one still running on the same engine.
   */
  async holdDuring(work: () => Promise<void>): Promise<LeaseAnswer> {
    // Set by the renewals (a closure TypeScript does not follow).
    let worst = 'held' as LeaseAnswer;
    let renewing: Promise<void> | undefined;
    const renew = () => {
      if (renewing || worst === 'other') return;
      renewing = this.acquire()
        .then((r) => {
          if (r === 'other') worst = 'other';
          else if (r === 'taken') worst = 'taken';
        })
        .catch(() => undefined)
        .finally(() => (renewing = undefined));
    };
    const timer = setInterval(renew, Math.max(1, Math.floor(this.ms / 3)));
    try {
      await work();
    } finally {
      clearInterval(timer);
      await renewing;
    }
    // A foreign holder's lease is not renewed here: it would answer 'other' again.
    if (worst === 'other') {
      this.ours = false;
      return 'other';
    }
    const last = await this.acquire();
    return last === 'held' ? worst : last;
  }
}
