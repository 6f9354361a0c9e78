import type { Logger } from 'pino';
import type { Config, Secrets } from './config/config.js';
import type { Db } from './db/dialect.js';
import { holdMemoryLimitsLock, type NodeLock, type NodeLockStatus } from './db/node-lock.js';
import { migrateToLatest } from './db/migrate.js';
import type { ContactHasher } from './directory/hashing.js';
import { CallerStatusCache } from './discovery/caller-cache.js';
import { MatchPool } from './discovery/match-pool.js';
import { postgresDiscoveryStore, sqliteDiscoveryStore, type DiscoveryStore } from './discovery/store.js';
import { DiscoveryGate } from './discovery/gate.js';
import { DiscoveryService } from './discovery/service.js';
import { SyncTokens } from './discovery/sync-token.js';
import { JwtVerifier } from './http/auth/jwt.js';
import { Challenges, Limiter, MemoryLimitStore, type LimitStore, type SimulatedProofOfWork } from './limits/index.js';
import { LimitStatePersistence } from './limits/memory-persistence.js';
import { databaseEpoch, establishEpoch, logLost } from './limits/redis-epoch.js';
import { createRedisLimitStore, RedisLimitStore } from './limits/redis-store.js';
import { createCore, type CoreContext, type CoreOverrides } from './context/core.js';
import { systemClock } from './util/clock.js';
import { requireNoEviction } from './util/redis-persistence.js';
import { OidcSignIn } from './operators/oidc.js';

export { createCliContext, type CliContext } from './context/cli.js';
export { createWorkerContext, type WorkerContext, type WorkerOverrides } from './context/worker.js';
export type { CoreContext, CoreOverrides } from './context/core.js';
export type { EventOptions } from './context/events.js';

/**
 * The context of a process that serves the API (`findguard serve`, one per node): the shared core
 * plus the discovery path (store, matching, the gate), the limits and token verification. Named
 * after atproto ozone's AppContext; the worker's is WorkerContext, a CLI command's CliContext.
 */
export interface AppContext extends CoreContext {
  discovery: DiscoveryService;
  /** The one discovery use case the public API calls: guard, limits, match and record, in order. */
  gate: DiscoveryGate;
  jwt: JwtVerifier;
  limits: Limiter;
  limitStore: LimitStore;
  /** OIDC sign-in for the console, when configured. */
  oidc?: OidcSignIn;
  /**
   * Starts what a serving node runs: reads the standing decisions before the first call, restores
   * the embedded limits' saved state, and where this node has them the in-process event consumer,
   * event retention and the webhook deliverer. Building starts none of it.
   */
  start(): Promise<void>;
  close(): Promise<void>;
  /**
   * Ends this node's single-node lock (db/node-lock.ts) as the process's death would, closing
   * nothing else: how a test plays a crash in one process. On PostgreSQL a test can end the
   * lock's session from outside; a SQLite file lock belongs to the process that holds it.
   */
  dropNodeLockAsCrash(): Promise<void>;
  /** Where this node's single-node lock stands (limits in memory only; undefined otherwise): readiness reports it. */
  singleNodeLock(): NodeLockStatus | undefined;
}

/** Parts a test, the simulator or a benchmark may swap in a serving context. */
export interface ContextOverrides extends CoreOverrides {
  /** Match worker threads (SQLite files only); default from the config. */
  matchWorkers?: number;
  limitStore?: LimitStore;
  /**
   * The attack simulator's in-process stand-in for the proof-of-work arithmetic (limits/
   * simulated-work.ts). Code only, never config or environment, and refused with the system clock.
   */
  simulatedProofOfWork?: SimulatedProofOfWork;
}

function createDiscoveryStore(config: Config, secrets: Secrets, db: Db, hasher: ContactHasher, workers = config.matchWorkers): DiscoveryStore {
  if (db.dialect === 'postgres') return postgresDiscoveryStore(db, hasher);
  const file = config.database.dialect === 'sqlite' && config.database.path !== ':memory:' ? config.database.path : undefined;
  const pool = file && workers > 0 ? new MatchPool(file, secrets.hashKeys, workers) : undefined;
  return sqliteDiscoveryStore(db, hasher, { ...(pool ? { pool } : {}), ...(file ? { path: file } : {}) });
}

/**
 * The explicit migration step: `findguard migrate`, and `findguard serve` before it listens. No
 * context migrates when built; one built on a schema that is behind refuses to (core.ts).
 */
export async function migrate(db: Db, logger: Logger): Promise<Awaited<ReturnType<typeof migrateToLatest>>> {
  const result = await migrateToLatest(db.kysely);
  if (result.eventsFileRestarted) logger.warn({ file: result.eventsFileRestarted }, 'the lookup events file was missing: started a new, empty one (the abuse engine has no history from before)');
  return result;
}

/** Builds a serving node's context. It starts nothing until start(). */
export async function createAppContext(config: Config, secrets: Secrets, overrides: ContextOverrides = {}): Promise<AppContext> {
  if (overrides.simulatedProofOfWork && (overrides.clock ?? systemClock) === systemClock) throw new Error('simulatedProofOfWork is for the simulator on simulated time only, never with the system clock');
  // Without Redis this one process consumes its events (in-process) and delivers; with Redis it
  // publishes, and a worker fleet consumes, though a serve node still delivers webhooks.
  const built = await createCore(config, secrets, overrides, { consume: false, deliver: true });
  const { core } = built;
  const { clock, random, logger, db } = core;
  let limitStore: LimitStore;
  let store: DiscoveryStore | undefined;
  try {
    store = createDiscoveryStore(config, secrets, db, core.hasher, overrides.matchWorkers);
    limitStore =
      overrides.limitStore ??
      (config.redisUrl
        ? createRedisLimitStore(config.redisUrl, {
            ...(overrides.redisPrefix ? { prefix: overrides.redisPrefix } : {}),
            // Calls fail closed while Redis lacks the epoch; an operator's accept-redis-reset writes a
            // new one to the database, read here when a call meets the mismatch.
            onLost: (held) => void followEpoch(held),
          })
        : new MemoryLimitStore({ persistence: new LimitStatePersistence(db.kysely, logger.child({ component: 'limits' }), db.sqlite) }));
  } catch (err) {
    await store?.close();
    await built.close();
    throw err;
  }
  const discoveryStore = store;
  const followEpoch = async (held: string | null): Promise<void> => {
    if (!(limitStore instanceof RedisLimitStore)) return;
    const stored = await databaseEpoch(db.kysely).catch(() => undefined);
    if (stored !== undefined && stored === held) limitStore.expectEpoch(stored);
    else logLost(logger, held);
  };
  const callers = new CallerStatusCache((id) => discoveryStore.caller(id), clock);
  built.onDirectoryChanged((ids) => {
    discoveryStore.refresh();
    callers.invalidate(ids);
  });
  const tokens = new SyncTokens(secrets.hashKeys, random);
  // The directory keeps a "my contacts" owner's latest synced book (directory/discoverability.ts).
  const discovery = new DiscoveryService({ store: discoveryStore, callers, tokens, clock, tokenLifetimeMs: core.policy.syncTokenLifetimeMs, books: core.directory });
  const challenges = new Challenges(secrets.hashKeys, random, limitStore, overrides.simulatedProofOfWork);
  const limits = new Limiter({ policy: core.policy, store: limitStore, ipIntel: core.ipIntel, challenges, metrics: core.metrics, clock, logger });
  const ownedStore = overrides.limitStore ? undefined : limitStore;
  let nodeLock: NodeLock | undefined;
  const gate = new DiscoveryGate({ discovery, abuse: core.abuse, limits, events: core.events, ipIntel: core.ipIntel, clock, random, logger });
  return {
    ...core,
    discovery,
    gate,
    jwt: new JwtVerifier(secrets.jwt, clock),
    limits,
    limitStore,
    ...(config.oidc && secrets.oidcClientSecret
      ? { oidc: new OidcSignIn({ ...config.oidc, clientSecret: secrets.oidcClientSecret }, { db: db.kysely, clock, random, operators: core.operators, allowHttpIssuer: config.oidc.issuer.protocol === 'http:' }) }
      : {}),
    start: async () => {
      // Limits in this process: this node must be its database's only one (db/node-lock.ts).
      if (limitStore instanceof MemoryLimitStore && !overrides.limitStore) {
        const store = limitStore;
        // Back after losing the lock: another node may have held it meanwhile, unseen by this one
        // (cut off, its rounds could not ask), and its charges are in the saved state, so this
        // memory is stale whether or not a round saw the lock taken.
        const lock = (nodeLock = await holdMemoryLimitsLock(db, logger, 'exclusive', async () => void (await store.reload(clock.now()))));
        // Only while held. Taken: another node keeps limits of its own beside these. Regaining: the
        // session dropped and this node cannot tell whether another holds the lock until its next
        // round (up to 2 s), and the reload above runs in this state: calls meanwhile would be
        // judged against buckets being read back. It costs a blip: PostgreSQL is back within a round
        // or the calls fail anyway.
        limitStore.soleWhile(() => lock.status() === 'held');
      } else if (!overrides.limitStore) {
        // Limits in Redis: a Redis that may evict them is refused before anything is served.
        if (config.redisUrl) await requireNoEviction(config.redisUrl, logger);
        // The deployment's epoch (limits/redis-epoch.ts): a Redis that lost the limits fails closed.
        if (limitStore instanceof RedisLimitStore) limitStore.expectEpoch(await establishEpoch(db.kysely, limitStore, () => random.bytes(12).toString('base64url'), logger));
        // A share of the same lock, so no memory-limits node runs beside this one; if one took the
        // lock while this share was gone, this node answers nothing until it holds its share again.
        const lock = (nodeLock = await holdMemoryLimitsLock(db, logger, 'shared'));
        if (limitStore instanceof RedisLimitStore) limitStore.soleWhile(() => lock.status() !== 'taken' && lock.status() !== 'released');
      }
      // This node enforces the standing decisions: read before the first call is served.
      await core.incidents.decisions.start();
      // Sign-in throttle keys an older release left under plain names, keyed before any sign-in (operators/throttle-legacy.ts).
      await core.operators.throttle.sweep(clock.now());
      if (limitStore instanceof MemoryLimitStore) await limitStore.restore(clock.now());
      built.start();
    },
    dropNodeLockAsCrash: async () => {
      await nodeLock?.release();
    },
    singleNodeLock: () => nodeLock?.status(),
    close: async () => {
      // The store's last save and fold before the lock goes: another process may take it at once,
      // and its own journal rows would be this one's to fold (test/review/lj-close-fold-after-lock-release).
      await ownedStore?.close();
      await nodeLock?.release();
      await discoveryStore.close();
      await built.close();
    },
  };
}
