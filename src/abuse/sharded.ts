import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Db } from '../db/dialect.js';
import type { AbusePolicy } from '../policy/index.js';
import { closeRedis, createRedis } from '../util/redis.js';
import { DEFAULT_MAX_STREAM_LENGTH, type EventConsumer } from './bus.js';
import type { Enforcer } from './engine.js';
import type { EventHandler } from './pipeline.js';
import type { EventMetrics } from './metrics.js';
import { PartitionCoordinator } from './partition-lease.js';
import { partitionStreamKey, summariesStreamKey } from './partitions.js';
import { EventPipeline } from './pipeline.js';
import { RedisEventConsumer } from './redis-consumer.js';
import type { ResumeOptions } from './resume.js';
import { StreamPositions } from './stream-positions.js';
import { GlobalStage, PartitionStage, decodeFindings, type SummarySink } from './stages.js';

/** The global stage's consumer group on the summaries stream. */
export const GLOBAL_GROUP = 'global';

export interface ShardedConsumerOptions {
  url: string;
  /** The events stream key; partition p reads `<key>:<p>`. */
  streamKey: string;
  partitions: number;
  /** The summaries stream's length cap (the events streams'); default DEFAULT_MAX_STREAM_LENGTH. */
  maxStreamLength?: number;
  consumer: string;
  claimIdleMs?: number;
  db: Db;
  enforcer: Enforcer;
  policy: AbusePolicy;
  evaluateEveryMs?: number;
  resume?: ResumeOptions;
  clock: { now(): number };
  logger: Logger;
  metrics: EventMetrics;
  heartbeatMs?: number;
  /** Handlers beside each partition's stage (late exposures), given every batch the partition stores. */
  handlers?: readonly EventHandler[];
}

/**
 * A worker of a partitioned deployment (FINDGUARD_EVENT_PARTITIONS = P > 1): one consumer per
 * partition stream, each taking its lease only while the coordinator says this worker is below
 * its share (partition-lease.ts), each with its own pipeline and partition stage; and one consumer
 * of the summaries stream, the global stage, under a lease of its own (any worker may hold it).
 * Idle consumers cost one lease check per blocking interval.
 */
export class ShardedConsumer implements EventConsumer {
  readonly kind = 'redis' as const;
  readonly coordinator: PartitionCoordinator;
  readonly stages: PartitionStage[] = [];
  readonly global: GlobalStage;
  private readonly consumers: RedisEventConsumer[] = [];
  private readonly globalConsumer: RedisEventConsumer;
  private readonly publisher: Redis;

  constructor(opts: ShardedConsumerOptions) {
    const P = opts.partitions;
    const summaries = summariesStreamKey(opts.streamKey);
    const findingsKey = `${opts.streamKey}:findings`;
    const progressKey = `${opts.streamKey}:progress`;
    this.publisher = createRedis(opts.url);
    const maxLen = String(opts.maxStreamLength ?? DEFAULT_MAX_STREAM_LENGTH);
    const sink: SummarySink = {
      // In pipelines of 1,000: a take-over republishes a day of the partition's summaries at once.
      publish: async (entries) => {
        for (let i = 0; i < entries.length; i += 1000) {
          const pipe = this.publisher.pipeline();
          for (const [field, json] of entries.slice(i, i + 1000)) pipe.xadd(summaries, 'MAXLEN', '~', maxLen, '*', field, json);
          const results = (await pipe.exec()) ?? [];
          for (const [err] of results) if (err) throw err;
        }
      },
      findings: async (p, at, findings) => {
        await this.publisher.hset(findingsKey, String(p), JSON.stringify({ at, findings }));
      },
      progress: async (p, at) => {
        await this.publisher.hset(progressKey, String(p), `${at} ${opts.clock.now()}`);
      },
    };
    const logger = opts.logger;
    this.coordinator = new PartitionCoordinator({ url: opts.url, key: opts.streamKey, consumer: opts.consumer, partitions: P, logger, ...(opts.heartbeatMs ? { heartbeatMs: opts.heartbeatMs } : {}) });
    const deps = { db: opts.db.kysely, enforcer: opts.enforcer, logger, clock: opts.clock, policy: opts.policy, readStoredUpTo: async () => storedUpTo(await this.publisher.hgetall(progressKey), P), ...(opts.evaluateEveryMs ? { evaluateEveryMs: opts.evaluateEveryMs } : {}), ...(opts.resume ? { resume: opts.resume } : {}) };
    // The leading gauge says whether this worker holds any partition.
    const coordinator = this.coordinator;
    const partitionMetrics = Object.create(opts.metrics, {
      consumerLeading: { value: () => opts.metrics.consumerLeading(coordinator.held.length > 0) },
      handled: { value: (at: number) => opts.metrics.handled(at) },
    }) as EventMetrics;
    const claim = opts.claimIdleMs !== undefined ? { claimIdleMs: opts.claimIdleMs } : {};
    // Each partition stream's acknowledged position, so a Redis that comes back without its
    // streams reports the lookup events lost (findguard_events_lost_total counts lookup events: the
    // summaries stream, derived from stored events, is not counted).
    const positions = new StreamPositions(opts.db.kysely);
    for (let p = 0; p < P; p++) {
      const stage = new PartitionStage(deps, p, P, sink);
      this.stages.push(stage);
      this.consumers.push(
        new RedisEventConsumer({
          url: opts.url,
          processor: new EventPipeline(opts.db, [stage, ...(opts.handlers ?? [])], partitionMetrics),
          logger,
          metrics: partitionMetrics,
          streamKey: partitionStreamKey(opts.streamKey, p, P),
          consumer: opts.consumer,
          assignment: this.coordinator.assignment(p),
          positions,
          ...claim,
        }),
      );
    }
    this.global = new GlobalStage({
      ...deps,
      readWatermark: async () => watermarkOf(await this.publisher.hgetall(progressKey), opts.clock.now()),
      readFindings: async () => Object.values(await this.publisher.hgetall(findingsKey)).flatMap((text) => decodeFindings(text)?.findings ?? []),
    });
    const globalMetrics = Object.create(opts.metrics, { consumerLeading: { value: () => undefined }, handled: { value: () => undefined } }) as EventMetrics;
    this.globalConsumer = new RedisEventConsumer({ url: opts.url, processor: this.global, logger, metrics: globalMetrics, streamKey: summaries, group: GLOBAL_GROUP, consumer: opts.consumer, derived: true, ...claim });
  }

  start(): void {
    this.coordinator.start();
    for (const c of this.consumers) c.start();
    this.globalConsumer.start();
  }

  async stop(): Promise<void> {
    // Each finishes and acknowledges its batch, then releases its lease for another worker.
    await Promise.all([...this.consumers.map((c) => c.stop()), this.globalConsumer.stop()]);
    await this.coordinator.stop();
    await closeRedis(this.publisher);
  }
}

/**
 * The least event time every partition has stored up to, among partitions that reported within
 * STALE_PROGRESS_MS: a partition whose owner died is waited for only that long (its new owner
 * reports again once it has taken over); one that has gone quiet has nothing unstored.
 */
export function watermarkOf(progress: Record<string, string>, now: number): number | undefined {
  let min: number | undefined;
  for (const text of Object.values(progress)) {
    const { at, seen } = progressOf(text);
    if (!Number.isFinite(at) || !Number.isFinite(seen) || now - seen > STALE_PROGRESS_MS) continue;
    if (min === undefined || at < min) min = at;
  }
  return min;
}

const STALE_PROGRESS_MS = 60_000;

/** A partition's progress entry, `${at} ${seen}` (SummarySink.progress): NaN where missing or malformed. */
function progressOf(text: string | undefined): { at: number; seen: number } {
  const [at, seen] = (text ?? '').split(' ');
  return { at: at ? Number(at) : Number.NaN, seen: seen ? Number(seen) : Number.NaN };
}

/**
 * The event time every one of the P partitions has stored up to, silent ones included, unlike
 * watermarkOf (undefined until each has said): what a partition waits for before it reads another
 * partition's accounts from the database (detectors/revelation.ts). A partition that is idle holds
 * it back, and the wait is bounded on the clock instead.
 */
export function storedUpTo(progress: Record<string, string>, partitions: number): number | undefined {
  let min: number | undefined;
  for (let p = 0; p < partitions; p++) {
    const { at } = progressOf(progress[String(p)]);
    if (!Number.isFinite(at)) return undefined;
    if (min === undefined || at < min) min = at;
  }
  return min;
}
