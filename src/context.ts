import type { Logger } from 'pino';
import type { Config } from './config/config.js';
import { openDb, type Db } from './db/dialect.js';
import { migrateToLatest } from './db/migrate.js';
import { DirectoryService } from './directory/service.js';
import { ContactHasher } from './directory/hashing.js';
import { CallerStatusCache } from './discovery/caller-cache.js';
import { MatchPool } from './discovery/match-pool.js';
import { postgresDiscoveryStore, sqliteDiscoveryStore, type DiscoveryStore } from './discovery/store.js';
import { DiscoveryService } from './discovery/service.js';
import { SyncTokens } from './discovery/sync-token.js';
import { JwtVerifier } from './http/auth/jwt.js';
import { ConfigError } from './config/errors.js';
import { ENV_NAMES } from './config/env.js';
import { Challenges, Limiter, LimitMetrics, loadPolicy, PolicyError, MemoryLimitStore, type CompiledPolicy, type LimitStore } from './limits/index.js';
import { createRedisLimitStore } from './limits/redis-store.js';
import { loadIpIntel, type IpIntel } from './net/index.js';
import { createLogger } from './logger.js';
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
  jwt: JwtVerifier;
  limits: Limiter;
  limitStore: LimitStore;
  metrics: LimitMetrics;
  ipIntel: IpIntel;
  close(): Promise<void>;
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

export async function createContext(config: Config, overrides: ContextOverrides = {}): Promise<AppContext> {
  const logger = overrides.logger ?? createLogger(config.logLevel);
  const clock = overrides.clock ?? systemClock;
  const random = overrides.random ?? cryptoRandom;
  const db = overrides.db ?? openDb(config.database);
  try {
    if (overrides.migrate !== false) await migrateToLatest(db.kysely);
  } catch (err) {
    await db.close();
    throw err;
  }
  const hasher = new ContactHasher(config.hashKeys);
  const tokens = new SyncTokens(config.hashKeys, random);
  const store = createDiscoveryStore(config, db, hasher, overrides.matchWorkers);
  const callers = new CallerStatusCache((id) => store.caller(id), clock);
  const directory = new DirectoryService({
    db: db.kysely,
    hasher,
    clock,
    random,
    onChanged: (ids) => {
      store.refresh();
      callers.invalidate(ids);
    },
  });
  const discovery = new DiscoveryService({ store, callers, tokens, clock });
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
        : new MemoryLimitStore());
  } catch (err) {
    await store.close();
    await db.close();
    throw err;
  }
  const metrics = new LimitMetrics();
  const challenges = new Challenges(config.hashKeys, random, limitStore);
  const limits = new Limiter({ policy, store: limitStore, ipIntel, challenges, metrics, clock, logger });
  const ownedStore = overrides.limitStore ? undefined : limitStore;
  return {
    config,
    logger,
    clock,
    random,
    db,
    hasher,
    directory,
    discovery,
    jwt,
    limits,
    limitStore,
    metrics,
    ipIntel,
    close: async () => {
      await ownedStore?.close();
      await store.close();
      await db.close();
    },
  };
}
