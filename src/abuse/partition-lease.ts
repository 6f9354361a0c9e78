import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { OutageLog, errorText } from '../util/outage.js';
import { closeRedis, createRedis } from '../util/redis.js';

/**
 * Which partitions a worker consumes: the only coordination findguard adds to Redis Streams (no
 * broker of its own). Each partition stream keeps today's single-leader lease (redis-consumer.ts:
 * SET NX PX, renewed every round, released on a graceful stop); this decides which leases a worker
 * tries to hold.
 *
 * - Every worker beats a heartbeat into one sorted set (`<key>:workers`, member = its consumer
 *   name, score = Redis's own clock), dropping members silent for `ttlMs`: the live count.
 * - A worker holds at most target = ceil(P / live) partition leases. Below target it tries the
 *   leases it does not hold (one at a time); above it (a worker joined) it gives up its
 *   highest-numbered partitions after finishing and acknowledging the batch in hand.
 *
 * Invariants:
 * 1. At most one consumer processes a partition at a time: its lease (a Redis key set only if
 *    absent, renewed and released only by its holder, which is known by its name and a token of
 *    its own instance: consumer-lease.ts) is held before reading and checked every round, and
 *    renewed while a take-over rebuilds the partition's engine.
 * 2. No event is lost: entries leave a partition's pending list only when acknowledged after
 *    processing; a new owner reads the partition group's pending entries of the dead owner
 *    (XAUTOCLAIM after claimIdleMs), and a graceful owner acknowledges before releasing.
 * 3. None is handled twice: storage is idempotent by event id, and only events this process stored
 *    reach the engine; the new owner rebuilds the partition's engine from the stored events of the
 *    partition's accounts (resume) before its first new event. (A stalled owner whose lease lapsed
 *    mid-batch is the one exception, as with the single leader: both may handle that batch.)
 * 4. Every partition gets an owner while any worker lives: live x ceil(P / live) >= P, and a
 *    lapsed lease is free to anyone below target. Workers may disagree on `live` for a heartbeat
 *    or two: that delays balance, never breaks invariant 1.
 */

/** The one worker's view of its share, asked by each partition's consumer every round. */
export interface PartitionAssignment {
  /** Whether to try to take the lease now (false: stand by). Reserves a slot until held() answers. */
  mayTake(): boolean;
  /** Whether to give the lease up now: this worker holds more than its share. */
  shouldShed(): boolean;
  /** What became of the lease. */
  held(holding: boolean): void;
}

export interface PartitionCoordinatorOptions {
  url: string;
  /** The events stream key; the heartbeats go to `<key>:workers`. */
  key: string;
  consumer: string;
  partitions: number;
  logger: Logger;
  heartbeatMs?: number;
  /**
   * A worker silent this long no longer counts as live (default 10 s: a busy event loop must not
   * make a live worker look dead; its partitions cannot move before its leases lapse anyway).
   */
  ttlMs?: number;
}

/** Adds or refreshes this worker, forgets silent ones, counts the rest; on Redis's clock, so workers' clocks need not agree. */
const HEARTBEAT_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return redis.call('ZCARD', KEYS[1])`;

export class PartitionCoordinator {
  readonly workersKey: string;
  private readonly redis: Redis;
  private readonly heartbeatMs: number;
  private readonly ttlMs: number;
  private readonly heldSet = new Set<number>();
  private readonly taking = new Set<number>();
  private live = 0;
  private timer: NodeJS.Timeout | undefined;
  private beating: Promise<void> | undefined;
  private readonly outage: OutageLog;

  constructor(private readonly opts: PartitionCoordinatorOptions) {
    this.workersKey = `${opts.key}:workers`;
    this.heartbeatMs = opts.heartbeatMs ?? 1000;
    this.ttlMs = opts.ttlMs ?? Math.max(10_000, 3 * this.heartbeatMs);
    this.redis = createRedis(opts.url);
    this.outage = new OutageLog({
      down: (err) => opts.logger.error({ err: errorText(err), consumer: opts.consumer }, 'worker heartbeat failing: partitions held are kept while their leases last'),
    });
  }

  /** Partitions this worker holds now. */
  get held(): number[] {
    return [...this.heldSet].sort((a, b) => a - b);
  }

  /** How many partitions this worker should hold (0 until its first heartbeat counted it). */
  get target(): number {
    return this.live > 0 ? Math.ceil(this.opts.partitions / this.live) : 0;
  }

  start(): void {
    if (this.timer) return;
    const tick = () => {
      this.beating ??= this.beat().finally(() => (this.beating = undefined));
    };
    tick();
    this.timer = setInterval(tick, this.heartbeatMs);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.beating;
    // Leaving at once lets the others raise their share now rather than after ttlMs.
    await this.redis.zrem(this.workersKey, this.opts.consumer).catch(() => undefined);
    await closeRedis(this.redis);
  }

  /** The assignment one partition's consumer asks. */
  assignment(p: number): PartitionAssignment {
    return {
      mayTake: () => {
        if (this.heldSet.has(p)) return true;
        if (this.heldSet.size + this.taking.size >= this.target) return false;
        this.taking.add(p);
        return true;
      },
      // The highest-numbered partitions beyond the share go first: every worker picks the same way.
      shouldShed: () => this.heldSet.has(p) && this.held.indexOf(p) >= this.target,
      held: (holding) => {
        this.taking.delete(p);
        const had = this.heldSet.has(p);
        if (holding) this.heldSet.add(p);
        else this.heldSet.delete(p);
        if (had !== holding) this.opts.logger.info({ consumer: this.opts.consumer, partition: p, held: this.held, target: this.target, live: this.live }, holding ? 'took an event partition' : 'gave up an event partition');
      },
    };
  }

  private async beat(): Promise<void> {
    try {
      this.live = Number(await this.redis.eval(HEARTBEAT_SCRIPT, 1, this.workersKey, this.opts.consumer, this.ttlMs));
      if (this.outage.ok()) this.opts.logger.info({ consumer: this.opts.consumer }, 'worker heartbeat working again');
    } catch (err) {
      this.outage.failed(err);
    }
  }
}
