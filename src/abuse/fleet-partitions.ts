import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { ConfigError } from '../config/errors.js';
import { ENV_NAMES } from '../config/env.js';
import { errorText } from '../util/outage.js';
import { closeRedis, createRedis } from '../util/redis.js';
import { READ_EVERY_MS, RECHECK_MS } from './stream-backlog.js';

/**
 * The fleet's partition count (FINDGUARD_EVENT_PARTITIONS, partitions.ts), kept in Redis so that a
 * process on another P cannot go unnoticed. A serve node on another P than the workers publishes
 * to streams no consumer group reads: its answered calls would reveal accounts whose exposure is
 * never recorded, and nothing would say so.
 *
 * - Workers own the key: the P they read is the one that matters. A worker claims it at start
 *   (SET NX, no TTL) and refuses to start when it holds another P; while it runs it claims it again
 *   every CLAIM_EVERY_MS, so a Redis that lost its data has it back within seconds.
 * - Publishers (serve nodes, CLI commands) only read it: `findguard serve` refuses to start on
 *   another P, and the event bus reads it again before publishing (at most every READ_EVERY_MS),
 *   failing answered calls closed (503) and withholding other events while it differs. A publisher
 *   never sets it: a serve node left on the old P must not be the one that decides (it starts
 *   first as often as not). Unset (no worker yet, or Redis reset) is no mismatch.
 * - The operator changes it (`findguard events partitions --set N`): publishers on the old P stop at
 *   once (503), workers on the old P keep draining their streams, then the new P is deployed.
 */

/** How often a worker claims the key again (and says so if it now holds another P). */
export const CLAIM_EVERY_MS = 5000;

/** Where the fleet's P is kept: beside the streams, under the deployment's prefix. */
export function fleetPartitionsKey(streamKey: string): string {
  return `${streamKey}:partitions`;
}

/** Why a process on `own` partitions must not run beside a fleet on `fleet` (names the variable, says what to do). */
export function mismatchProblem(role: 'serve node' | 'worker' | 'process', own: number, fleet: string, key: string): string {
  return (
    `is ${own} on this ${role}, but the fleet's lookup event streams are partitioned ${fleet} way(s) (Redis key ${key}): ` +
    `every serve node and worker must run with the same value. Run with ${ENV_NAMES.eventPartitions}=${fleet}, or, to change the fleet's, ` +
    `\`findguard events partitions --set ${own}\` (then let the old streams drain and deploy the new value everywhere)`
  );
}

/** Claims the key for `partitions` unless it is set already; the fleet's P (as stored) after the claim. */
export async function claimFleetPartitions(redis: Redis, key: string, partitions: number): Promise<string> {
  const results = (await redis.pipeline().set(key, String(partitions), 'NX').get(key).exec()) ?? [];
  for (const [err] of results) if (err) throw err;
  return String(results[1]?.[1] ?? partitions);
}

/**
 * The start-up check: a worker claims the key, a serve node reads it; throws ConfigError when the
 * fleet holds another P. A Redis that does not answer is logged and the process starts: a worker's
 * claims and the event bus's reads check again once it does.
 */
export async function requireFleetPartitions(url: string, streamKey: string, partitions: number, role: 'serve node' | 'worker', logger: Logger): Promise<void> {
  const key = fleetPartitionsKey(streamKey);
  const redis = createRedis(url, { lazyConnect: true });
  let fleet: string | null;
  try {
    fleet = role === 'worker' ? await claimFleetPartitions(redis, key, partitions) : await redis.get(key);
  } catch (err) {
    logger.warn({ err: errorText(err), key }, `could not read the fleet's ${ENV_NAMES.eventPartitions} from Redis at start; checked again once Redis answers`);
    return;
  } finally {
    await closeRedis(redis, 1000);
  }
  if (fleet !== null && fleet !== String(partitions)) throw new ConfigError(ENV_NAMES.eventPartitions, mismatchProblem(role, partitions, fleet, key));
}

/**
 * A publisher's view of the key (RedisEventBus): read at most every READ_EVERY_MS before a batch,
 * and at most every RECHECK_MS while it differs (nothing is published then that would read it).
 */
export class FleetPartitionsCheck {
  readonly key: string;
  /** The key's value as last read (null: unset). */
  private fleet: string | null = null;
  private checkedAt = -Infinity;
  private checking: Promise<void> | undefined;

  constructor(
    private readonly redis: Redis,
    streamKey: string,
    private readonly partitions: number,
    private readonly logger: Logger,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.key = fleetPartitionsKey(streamKey);
  }

  /** Whether the fleet, as last read, is on another P. */
  get mismatched(): boolean {
    return this.fleet !== null && this.fleet !== String(this.partitions);
  }

  /** Why answered calls fail closed while mismatched (the 503's reason in the logs). */
  get why(): string {
    return `${ENV_NAMES.eventPartitions} ${mismatchProblem('process', this.partitions, this.fleet ?? '?', this.key)}`;
  }

  /** Whether the value is old enough to be read again before publishing. */
  due(): boolean {
    return this.now() - this.checkedAt >= (this.mismatched ? RECHECK_MS : READ_EVERY_MS);
  }

  /** Reads the key (one read at a time); rejects when Redis does, the last value kept. */
  check(): Promise<void> {
    this.checking ??= this.read().finally(() => (this.checking = undefined));
    return this.checking;
  }

  /** While mismatched, nothing else reads the key: read it in the background when due. */
  recheck(): void {
    if (this.due()) this.check().catch(() => undefined);
  }

  private async read(): Promise<void> {
    const value = await this.redis.get(this.key);
    const was = this.mismatched;
    this.fleet = value;
    this.checkedAt = this.now();
    if (this.mismatched && !was) {
      this.logger.error({ key: this.key, fleet: value, own: this.partitions }, `${this.why}. Until then answered discovery calls fail closed (503) and no lookup event is published`);
    } else if (was && !this.mismatched) {
      this.logger.info({ key: this.key, partitions: this.partitions }, `the fleet's ${ENV_NAMES.eventPartitions} matches this process's again: lookup events are published`);
    }
  }
}

/**
 * A worker's claim, renewed every CLAIM_EVERY_MS. Another P in the key (the operator changed it)
 * is logged, and the worker goes on: its streams are the old P's, and draining them is what the
 * change waits for before this worker is replaced.
 */
export class FleetPartitionsWatch {
  private readonly redis: Redis;
  private readonly key: string;
  private timer: NodeJS.Timeout | undefined;
  private claiming: Promise<void> | undefined;
  private reported: string | undefined;

  constructor(
    url: string,
    streamKey: string,
    private readonly partitions: number,
    private readonly logger: Logger,
    private readonly everyMs = CLAIM_EVERY_MS,
  ) {
    this.redis = createRedis(url, { lazyConnect: true });
    this.key = fleetPartitionsKey(streamKey);
  }

  start(): void {
    this.timer ??= setInterval(() => (this.claiming ??= this.claim().finally(() => (this.claiming = undefined))), this.everyMs).unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.claiming;
    await closeRedis(this.redis, 1000);
  }

  private async claim(): Promise<void> {
    let fleet: string;
    try {
      fleet = await claimFleetPartitions(this.redis, this.key, this.partitions);
    } catch {
      return; // Redis away: the consumers report it; the next claim restores the key.
    }
    const mine = fleet === String(this.partitions);
    if (!mine && this.reported !== fleet) {
      this.logger.error(
        { key: this.key, fleet, own: this.partitions },
        `the fleet's ${ENV_NAMES.eventPartitions} is now ${fleet}, this worker's ${this.partitions}: it goes on draining its streams (publishers on ${this.partitions} fail closed); replace it with one on ${fleet} once they are drained (\`findguard events partitions\`)`,
      );
    }
    this.reported = mine ? undefined : fleet;
  }
}
