import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';

/**
 * The single-consumer lease of one stream (`<stream>:leader`): one key, set only if absent, with
 * a time to live, renewed and released only by its holder. Only the holder reads the stream, so
 * the engine's windows see every event of an account (redis-consumer.ts).
 *
 * The key holds the holder's consumer name (what operators and tests read), and `<key>:token`,
 * set and expiring with it, a random token of the holding instance. "Still ours" needs both: two
 * live processes under one name (the default `<hostname>-<pid>` of two containers sharing a UTS
 * namespace, both PID 1; an old instance not yet dead beside its replacement) would otherwise
 * both pass the check and split the stream between two engines. A process finding its own name
 * under another token waits for that lease to lapse, unless the instance that set it is no
 * longer connected to Redis (a restart after a crash): then it takes the lease over at once, as a
 * restart under the same name always did.
 */

/** held: still ours (renewed); taken: it was free (or its holder gone) and is ours now; other: another consumer holds it. */
export type LeaseAnswer = 'held' | 'taken' | 'other';

/** {1}: still ours (renewed); {2}: newly ours; {0, name, token}: another holds it. */
const LEASE_SCRIPT = `
local v = redis.call('GET', KEYS[1])
local t = redis.call('GET', KEYS[2])
if v == ARGV[1] and t == ARGV[2] then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
  return {1}
end
if not v then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
  return {2}
end
return {0, v, t or ''}`;
/** Takes the lease from a holder known to be gone, only if it still holds it (name, token). */
const TAKE_OVER_SCRIPT = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] or (redis.call('GET', KEYS[2]) or '') ~= ARGV[2] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[4])
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
return 2`;
const RELEASE_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] and redis.call('GET', KEYS[2]) == ARGV[2] then return redis.call('DEL', KEYS[1], KEYS[2]) end
return 0`;

/** The Redis connection name of a lease holder's instance: how another finds out whether it is still connected. */
export function holderConnectionName(token: string): string {
  return `findguard-consumer-${token}`;
}

export class ConsumerLease {
  /** This instance's token: new with every process (and every consumer in it). */
  readonly token = randomBytes(8).toString('hex');
  private readonly tokenKey: string;
  /** Whether the last answer left the lease ours (to release on stop). */
  private ours = false;
  /** The foreign token under our name last looked at: judged (and logged) once. */
  private judged: string | undefined;

  /**
   * `redis` must be named holderConnectionName(token) (connectionName), so that a process
   * restarted under the same name can tell this one is gone.
   */
  constructor(
    private readonly redis: Redis,
    readonly key: string,
    private readonly name: string,
    readonly ms: number,
    private readonly logger: Logger,
  ) {
    this.tokenKey = `${key}:token`;
  }

  /** Takes the lease if it is free (or its holder under our name is gone), renews it if it is ours. */
  async acquire(): Promise<LeaseAnswer> {
    const reply = (await this.redis.eval(LEASE_SCRIPT, 2, this.key, this.tokenKey, this.name, this.token, this.ms)) as unknown[];
    let r = Number(reply[0]);
    if (r === 0 && String(reply[1]) === this.name) r = await this.sameName(String(reply[2] ?? ''));
    this.ours = r !== 0;
    return r === 1 ? 'held' : r === 2 ? 'taken' : 'other';
  }

  /**
   * The lease holds our name under another token. If that instance is no longer connected (a
   * process restarted under its old name), the lease is taken over now: 2; else (or when Redis
   * will not say: CLIENT LIST refused) it is another live process under our name, and this one
   * stands by until its lease lapses: 0. Logged once per foreign token.
   */
  private async sameName(token: string): Promise<number> {
    if (this.judged === token) return 0;
    this.judged = token;
    const at = { consumer: this.name, lease: this.key };
    let connected: boolean | undefined;
    if (token !== '') {
      try {
        const list = String(await this.redis.call('CLIENT', 'LIST', 'TYPE', 'normal'));
        connected = list.includes(` name=${holderConnectionName(token)} `);
      } catch (err) {
        this.logger.warn({ ...at, err: err instanceof Error ? err.message : String(err) }, 'Redis refused CLIENT LIST: cannot tell whether the process that held this lease under our name is gone; waiting for its lease to lapse');
      }
    }
    if (connected === false) {
      const r = Number(await this.redis.eval(TAKE_OVER_SCRIPT, 2, this.key, this.tokenKey, this.name, token, this.token, this.ms));
      if (r === 2) {
        this.logger.warn(at, 'took over the event consumer lease from an earlier process under this consumer name, no longer connected to Redis (a restart)');
        return 2;
      }
      return 0;
    }
    this.logger.error(
      at,
      connected
        ? 'another live process holds the event consumer lease under this same consumer name: two processes share the name; this one stands by until that lease lapses. Give every worker its own --consumer name'
        : 'the event consumer lease is held under this consumer name by another process (or an older release): standing by until it lapses',
    );
    return 0;
  }

  /** Hands the lease over at once, if it is ours, rather than make a standby wait it out. */
  async release(): Promise<void> {
    if (!this.ours) return;
    this.ours = false;
    await this.redis.eval(RELEASE_SCRIPT, 2, this.key, this.tokenKey, this.name, this.token);
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
