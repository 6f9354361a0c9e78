import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { DEFAULT_STREAM_KEY, InProcessEventBus, RedisEventBus, type EventBus, type EventConsumer } from '../abuse/bus.js';
import { FleetPartitionsWatch } from '../abuse/fleet-partitions.js';
import { StreamPositions } from '../abuse/stream-positions.js';
import { EventMetrics } from '../abuse/metrics.js';
import { EventPipeline, type EventHandler } from '../abuse/pipeline.js';
import { RedisEventConsumer, defaultConsumerName } from '../abuse/redis-consumer.js';
import type { Enforcer } from '../abuse/engine.js';
import type { ResumeOptions } from '../abuse/resume.js';
import { ShardedConsumer } from '../abuse/sharded.js';
import type { AbusePolicy } from '../policy/index.js';
import { EventRetention } from '../abuse/retention.js';
import type { Config } from '../config/config.js';
import type { Db } from '../db/dialect.js';
import type { Clock } from '../util/clock.js';

/** The lookup-event pipeline's parts a caller may choose. */
export interface EventOptions {
  /** Redis stream key; default fg:events, or `<redisPrefix>events` when a test gives a prefix. */
  streamKey?: string;
  /** This process's name in the consumer group (a worker). */
  consumer?: string;
  /** After this long unacknowledged, another consumer's entries are claimed (a worker). */
  claimIdleMs?: number;
  /** Run on every new event after it is stored (default: the abuse engine). */
  handlers?: EventHandler[];
  /**
   * false: answered calls no longer wait for their lookup event to be durable (the behaviour
   * before they did, which loses the events in flight when the process dies). Only for the
   * benchmark's before/after (bench/server.ts); never in a deployment.
   */
  durable?: boolean;
  /** Other records' retention, run with the events' where this process consumes (EventRetentionDeps.purges). */
  purges?: ReadonlyArray<{ what: string; run: () => Promise<number> }>;
}

/** Where lookup events go, and, where this process consumes them, what takes them in. */
export interface EventParts {
  /** Where the discovery path and sign-ups publish lookup events (src/abuse/bus.ts). */
  events: EventBus;
  /** Stores events and hands them to the handlers (the engine's detectors). */
  eventPipeline: EventPipeline;
  /** Set where this process consumes events: the embedded default (in-process) or a worker. */
  eventConsumer?: EventConsumer;
  /** Deletes old events; set where this process consumes. */
  eventRetention?: EventRetention;
  start(): void;
  close(): Promise<void>;
}

export function streamKeyOf(opts: EventOptions, redisPrefix: string | undefined): string {
  return opts.streamKey ?? (redisPrefix ? `${redisPrefix}events` : DEFAULT_STREAM_KEY);
}

/**
 * The event parts of a process. `consume`: this process takes events in from Redis (a worker).
 * Without Redis the one process publishes and consumes in-process whatever its role, which is
 * the embedded default's whole design.
 */
/** What the sharded engine's stages are built with (partitioned deployments, stages.ts). */
export interface ShardedEngineParts {
  enforcer: Enforcer;
  policy: AbusePolicy;
  evaluateEveryMs?: number;
  resume?: ResumeOptions;
  /** Handlers beside the partition stages. */
  handlers?: readonly EventHandler[];
}

export function createEventParts(
  config: Pick<Config, 'redisUrl' | 'eventRetentionDays'> & Partial<Pick<Config, 'eventPartitions' | 'eventStreamMaxLength'>>,
  opts: EventOptions & { consume: boolean; redisPrefix?: string; sharded?: ShardedEngineParts },
  deps: { db: Db; clock: Clock; logger: Logger; registry: Registry },
): EventParts {
  const logger = deps.logger.child({ component: 'events' });
  const metrics = new EventMetrics(deps.registry, () => deps.clock.now());
  const eventPipeline = new EventPipeline(deps.db, opts.handlers ?? [], metrics);
  const streamKey = streamKeyOf(opts, opts.redisPrefix);
  const durable = opts.durable === false ? { durable: false } : {};
  let events: EventBus;
  let eventConsumer: EventConsumer | undefined;
  /** A consumer apart from the publisher, stopped after it. */
  let redisConsumer: RedisEventConsumer | ShardedConsumer | undefined;
  /** A worker's claim of the fleet's partition count, renewed (fleet-partitions.ts). */
  let watch: FleetPartitionsWatch | undefined;
  /** A publisher's first read of it, at start (a serve node says at once that it is on another P). */
  let checkPartitions: (() => void) | undefined;
  const partitions = config.eventPartitions ?? 1;
  if (!config.redisUrl) {
    const bus = new InProcessEventBus(eventPipeline, { logger, metrics, ...durable });
    events = bus;
    eventConsumer = bus;
  } else {
    const maxStreamLength = config.eventStreamMaxLength;
    const cap = maxStreamLength === undefined ? {} : { maxStreamLength };
    const bus = new RedisEventBus({ url: config.redisUrl, streamKey, logger, metrics, partitions, ...cap, ...durable });
    events = bus;
    if (opts.consume) watch = new FleetPartitionsWatch(config.redisUrl, streamKey, partitions, logger);
    else checkPartitions = () => void bus.checkPartitions().catch(() => undefined);
    if (opts.consume && partitions > 1 && opts.sharded) {
      // Partitioned: the engine runs in stages (per partition, and one global), not as the handlers.
      eventConsumer = redisConsumer = new ShardedConsumer({
        url: config.redisUrl,
        streamKey,
        partitions,
        ...cap,
        consumer: opts.consumer ?? defaultConsumerName(),
        ...(opts.claimIdleMs !== undefined ? { claimIdleMs: opts.claimIdleMs } : {}),
        db: deps.db,
        ...opts.sharded,
        clock: deps.clock,
        logger,
        metrics,
      });
    } else if (opts.consume) {
      eventConsumer = redisConsumer = new RedisEventConsumer({
        url: config.redisUrl,
        processor: eventPipeline,
        logger,
        metrics,
        streamKey,
        // Where the group had read to, kept in the database: a Redis reset that loses unread events is reported.
        positions: new StreamPositions(deps.db.kysely),
        ...(opts.consumer ? { consumer: opts.consumer } : {}),
        ...(opts.claimIdleMs !== undefined ? { claimIdleMs: opts.claimIdleMs } : {}),
      });
    }
  }
  const eventRetention = eventConsumer ? new EventRetention({ db: deps.db.kysely, clock: deps.clock, logger, days: config.eventRetentionDays, ...(opts.purges ? { purges: opts.purges } : {}) }) : undefined;
  return {
    events,
    eventPipeline,
    ...(eventConsumer ? { eventConsumer } : {}),
    ...(eventRetention ? { eventRetention } : {}),
    start: () => {
      checkPartitions?.();
      watch?.start();
      eventConsumer?.start();
      eventRetention?.start();
    },
    close: async () => {
      await eventRetention?.stop();
      await events.close();
      await redisConsumer?.stop();
      await watch?.stop();
    },
  };
}
