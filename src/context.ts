import type { Logger } from 'pino';
import { DEFAULT_STREAM_KEY, InProcessEventBus, RedisEventBus, type EventBus, type EventConsumer } from './abuse/bus.js';
import { EventMetrics } from './abuse/metrics.js';
import { AbuseService, type AbuseServiceOptions } from './abuse/service.js';
import { EventPipeline, type EventHandler } from './abuse/pipeline.js';
import { signupEventOf } from './abuse/signup.js';
import { RedisEventConsumer } from './abuse/redis-consumer.js';
import { EventRetention } from './abuse/retention.js';
import type { Config } from './config/config.js';
import { openDb, type Db } from './db/dialect.js';
import { migrateToLatest } from './db/migrate.js';
import { DirectoryService, type DirectoryDeps } from './directory/service.js';
import { ContactHasher } from './directory/hashing.js';
import { CallerStatusCache } from './discovery/caller-cache.js';
import { MatchPool } from './discovery/match-pool.js';
import { postgresDiscoveryStore, sqliteDiscoveryStore, type DiscoveryStore } from './discovery/store.js';
import { DiscoveryGate } from './discovery/gate.js';
import { DiscoveryService } from './discovery/service.js';
import { SyncTokens } from './discovery/sync-token.js';
import { JwtVerifier } from './http/auth/jwt.js';
import { ConfigError } from './config/errors.js';
import { ENV_NAMES } from './config/env.js';
import { Challenges, Limiter, LimitMetrics, MemoryLimitStore, type LimitStore } from './limits/index.js';
import { loadPolicy, PolicyError, type CompiledPolicy } from './policy/index.js';
import { LimitStatePersistence } from './limits/memory-persistence.js';
import { createRedisLimitStore } from './limits/redis-store.js';
import { loadIpIntel, type IpIntel } from './net/index.js';
import { createLogger } from './logger.js';
import { createIncidents, type IncidentOptions, type Incidents } from './incidents/index.js'; // incidents
import { systemClock, type Clock } from './util/clock.js';
import { cryptoRandom, type Random } from './util/random.js';

/** The one composition root: every service is built here, once, from the config. */
export interface AppContext {
  config: Config;
  logger: Logger;
  clock: Clock;
  random: Random;
  db: Db;
  hasher: ContactHasher;
  directory: DirectoryService;
  discovery: DiscoveryService;
  /** The one discovery use case the public API calls: guard, limits, match and record, in order. */
  gate: DiscoveryGate;
  jwt: JwtVerifier;
  limits: Limiter;
  limitStore: LimitStore;
  metrics: LimitMetrics;
  ipIntel: IpIntel;
  /** Where the discovery routes publish lookup events (src/abuse/bus.ts). */
  events: EventBus;
  /** Stores events and hands them to the registered handlers (detectors). */
  eventPipeline: EventPipeline;
  /** Set where this process consumes events: the embedded default (in-process) or `findguard worker`. */
  eventConsumer?: EventConsumer;
  /** Deletes old events; set where this process consumes. */
  eventRetention?: EventRetention;
  // --- incidents ---
  /** Enforcement, campaigns and exposures, the webhook outbox and its deliverer (src/incidents). */
  incidents: Incidents;
  // --- end incidents ---
  /** The abuse engine, fed by the event pipeline where this process consumes events. */
  abuse: AbuseService;
  /**
   * Starts what runs in the background where this process has it: the event consumer and
   * retention, the webhook deliverer. Building a context starts nothing, so a CLI command that
   * only reads or writes once never consumes, deletes or delivers.
   */
  start(): void;
  close(): Promise<void>;
}

/** The lookup-event pipeline's parts a caller may choose. */
export interface EventOptions {
  /**
   * Consume events in this process. With Redis, default false (`findguard serve` only
   * publishes; `findguard worker` passes true). Without Redis, events are always consumed here.
   */
  consume?: boolean;
  /** Redis stream key; default fg:events, or `<redisPrefix>events` when a test gives a prefix. */
  streamKey?: string;
  /** This process's name in the consumer group. */
  consumer?: string;
  /** After this long unacknowledged, another consumer's entries are claimed. */
  claimIdleMs?: number;
  /** Run on every new event after it is stored (the detectors). */
  handlers?: EventHandler[];
  /**
   * false: answered calls no longer wait for their lookup event to be durable (the behaviour
   * before they did, which loses the events in flight when the process dies). Only for the
   * benchmark's before/after (bench/server.ts); never in a deployment.
   */
  durable?: boolean;
}

/** Parts a test or the simulator may swap. */
export interface ContextOverrides {
  logger?: Logger;
  clock?: Clock;
  random?: Random;
  db?: Db;
  /** Skip migrations (the caller has run them). */
  migrate?: boolean;
  /** Match worker threads (SQLite files only); default from the config. */
  matchWorkers?: number;
  /** A policy in place of FINDGUARD_POLICY / the built-in default (the simulator compares policies). */
  policy?: CompiledPolicy;
  limitStore?: LimitStore;
  ipIntel?: IpIntel;
  /** Prefix of this service's keys in Redis (tests give each suite its own). */
  redisPrefix?: string;
  events?: EventOptions;
  /** Webhook delivery in this process (CLI commands that only read or write once turn it off). */
  incidents?: IncidentOptions;
  /** The abuse engine's policy and cadence (default: the built-in policy in shadow mode). */
  abuse?: AbuseServiceOptions;
}

function createDiscoveryStore(config: Config, db: Db, hasher: ContactHasher, workers = config.matchWorkers): DiscoveryStore {
  if (db.dialect === 'postgres') return postgresDiscoveryStore(db, hasher);
  const file = config.database.dialect === 'sqlite' && config.database.path !== ':memory:' ? config.database.path : undefined;
  const pool = file && workers > 0 ? new MatchPool(file, config.hashKeys, workers) : undefined;
  return sqliteDiscoveryStore(db, hasher, { ...(pool ? { pool } : {}), ...(file ? { path: file } : {}) });
}

function policyFromConfig(config: Config): CompiledPolicy {
  try {
    return loadPolicy(config.policyPath ?? 'default');
  } catch (err) {
    if (err instanceof PolicyError) throw new ConfigError(ENV_NAMES.policy, err.message);
    throw err;
  }
}

// --- lookup events (src/abuse) ---
function eventParts(
  config: Config,
  overrides: ContextOverrides,
  deps: { db: Db; clock: Clock; logger: Logger; registry: LimitMetrics['registry'] },
): { parts: Pick<AppContext, 'events' | 'eventPipeline' | 'eventConsumer' | 'eventRetention'>; start(): void; close(): Promise<void> } {
  const opts = overrides.events ?? {};
  const logger = deps.logger.child({ component: 'events' });
  const metrics = new EventMetrics(deps.registry, () => deps.clock.now());
  const eventPipeline = new EventPipeline(deps.db, opts.handlers ?? [], metrics);
  const streamKey = opts.streamKey ?? (overrides.redisPrefix ? `${overrides.redisPrefix}events` : DEFAULT_STREAM_KEY);
  let events: EventBus;
  let eventConsumer: EventConsumer | undefined;
  /** A consumer apart from the publisher, stopped after it. */
  let redisConsumer: RedisEventConsumer | undefined;
  if (!config.redisUrl) {
    const bus = new InProcessEventBus(eventPipeline, { logger, metrics, ...(opts.durable === false ? { durable: false } : {}) });
    events = bus;
    eventConsumer = bus;
  } else {
    events = new RedisEventBus({ url: config.redisUrl, streamKey, logger, metrics, ...(opts.durable === false ? { durable: false } : {}) });
    if (!opts.consume) logger.info({ stream: streamKey }, 'lookup events are published to Redis; `findguard worker` processes consume them');
    if (opts.consume) {
      eventConsumer = redisConsumer = new RedisEventConsumer({
        url: config.redisUrl,
        processor: eventPipeline,
        logger,
        metrics,
        streamKey,
        ...(opts.consumer ? { consumer: opts.consumer } : {}),
        ...(opts.claimIdleMs !== undefined ? { claimIdleMs: opts.claimIdleMs } : {}),
      });
    }
  }
  const eventRetention = eventConsumer ? new EventRetention({ db: deps.db.kysely, clock: deps.clock, logger, days: config.eventRetentionDays }) : undefined;
  return {
    parts: { events, eventPipeline, ...(eventConsumer ? { eventConsumer } : {}), ...(eventRetention ? { eventRetention } : {}) },
    start: () => {
      eventConsumer?.start();
      eventRetention?.start();
    },
    close: async () => {
      await eventRetention?.stop();
      await events.close();
      await redisConsumer?.stop();
    },
  };
}
// --- end lookup events ---

export async function createContext(config: Config, overrides: ContextOverrides = {}): Promise<AppContext> {
  const logger = overrides.logger ?? createLogger(config.logLevel);
  const clock = overrides.clock ?? systemClock;
  const random = overrides.random ?? cryptoRandom;
  const db = overrides.db ?? openDb(config.database);
  try {
    if (overrides.migrate !== false) {
      const { eventsFileRestarted: restarted } = await migrateToLatest(db.kysely);
      if (restarted) logger.warn({ file: restarted }, 'the lookup events file was missing: started a new, empty one (the abuse engine has no history from before)');
    }
  } catch (err) {
    await db.close();
    throw err;
  }
  const hasher = new ContactHasher(config.hashKeys);
  const tokens = new SyncTokens(config.hashKeys, random);
  const store = createDiscoveryStore(config, db, hasher, overrides.matchWorkers);
  const callers = new CallerStatusCache((id) => store.caller(id), clock);
  // Told once the account's transaction has committed, whichever way it arrived (PUT or the import); set below, once the events are.
  let emitSignup: NonNullable<DirectoryDeps['onSignup']> | undefined;
  const directory = new DirectoryService({
    db: db.kysely,
    hasher,
    clock,
    random,
    log: logger.child({ component: 'directory' }),
    onChanged: (ids) => {
      store.refresh();
      callers.invalidate(ids);
    },
    onSignup: (id, at, signup) => emitSignup?.(id, at, signup),
  });
  const jwt = new JwtVerifier(config.jwt, clock);
  let limitStore: LimitStore | undefined;
  let policy: CompiledPolicy;
  let ipIntel: IpIntel;
  try {
    policy = overrides.policy ?? policyFromConfig(config);
    ipIntel = overrides.ipIntel ?? (await loadIpIntel());
    limitStore =
      overrides.limitStore ??
      (config.redisUrl
        ? createRedisLimitStore(config.redisUrl, { ...(overrides.redisPrefix ? { prefix: overrides.redisPrefix } : {}) })
        : new MemoryLimitStore({ persistence: new LimitStatePersistence(db.kysely, logger.child({ component: 'limits' })) }));
    if (limitStore instanceof MemoryLimitStore) await limitStore.restore(clock.now());
  } catch (err) {
    await store.close();
    await db.close();
    throw err;
  }
  const discovery = new DiscoveryService({ store, callers, tokens, clock, tokenLifetimeMs: policy.syncTokenLifetimeMs });
  const metrics = new LimitMetrics();
  const challenges = new Challenges(config.hashKeys, random, limitStore);
  const limits = new Limiter({ policy, store: limitStore, ipIntel, challenges, metrics, clock, logger });
  const ownedStore = overrides.limitStore ? undefined : limitStore;
  const incidentOptions: IncidentOptions = { ...(overrides.redisPrefix ? { redisPrefix: overrides.redisPrefix } : {}), ...overrides.incidents };
  const incidents = createIncidents(config, { db: db.kysely, directory, clock, random, logger }, incidentOptions); // incidents
  // The abuse engine consumes events wherever they are consumed (here, or in `findguard worker`).
  const abusePolicy = policy.source.abuse;
  const abuse = new AbuseService({ db: db.kysely, incidents, clock, logger, registry: metrics.registry }, overrides.abuse ?? (abusePolicy ? { policy: abusePolicy } : {}));
  const ev = eventParts(
    config,
    { ...overrides, events: { ...overrides.events, handlers: overrides.events?.handlers ?? [abuse] } },
    { db, clock, logger, registry: metrics.registry },
  );
  emitSignup = (id, at, signup) => {
    const event = signupEventOf(id, at, signup, ipIntel, policy);
    if (event) ev.parts.events.emitSignup(event);
  };
  const gate = new DiscoveryGate({ discovery, abuse, limits, events: ev.parts.events, ipIntel, clock, random, logger });
  return {
    config,
    logger,
    clock,
    random,
    db,
    hasher,
    directory,
    discovery,
    gate,
    jwt,
    limits,
    limitStore,
    metrics,
    ipIntel,
    ...ev.parts,
    incidents,
    abuse,
    start: () => {
      ev.start();
      incidents.start();
    },
    close: async () => {
      await incidents.close(); // incidents: the deliverer finishes its round while the database is open
      // Events first: the in-process consumer drains into the database, so it must still be open.
      await ev.close();
      await ownedStore?.close();
      await store.close();
      await db.close();
    },
  };
}
