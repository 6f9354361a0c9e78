import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { createAlerts, missingAlertSecrets, type Alerts, type AlertsOptions } from '../alerts/index.js';
import { AbuseService, WIRED_DEFAULT_POLICY, incidentsEnforcer, type AbuseServiceOptions } from '../abuse/service.js';
import { LateExposures } from '../abuse/late-exposures.js';
import { signupEventOf } from '../abuse/signup.js';
import type { Config, Secrets } from '../config/config.js';
import { ConfigError } from '../config/errors.js';
import { ENV_NAMES, readAlertEnv } from '../config/env.js';
import { openDb, type Db } from '../db/dialect.js';
import { pendingMigrations } from '../db/migrate.js';
import { ContactHasher } from '../directory/hashing.js';
import { DirectoryService, type DirectoryDeps } from '../directory/service.js';
import { createIncidents, openIncidentClocks, type IncidentOptions, type Incidents } from '../incidents/index.js';
import { LimitMetrics } from '../limits/index.js';
import { loadIpIntel, type IpIntel } from '../net/index.js';
import { createLogger } from '../logger.js';
import { OperatorService, type OperatorServiceDeps } from '../operators/service.js';
import { durationMs, loadAlertsPolicy, loadPolicy, PolicyError, type AlertsPolicy, type CompiledPolicy } from '../policy/index.js';
import { systemClock, type Clock } from '../util/clock.js';
import { reportRedisPersistence } from '../util/redis-persistence.js';
import { cryptoRandom, type Random } from '../util/random.js';
import { createEventParts, type EventOptions, type EventParts } from './events.js';

/**
 * What every process role shares (atproto ozone builds its AppContext and DaemonContext the same
 * way): configuration and secrets kept apart, the database, the directory, the policy, incident
 * records and the abuse engine's service, and where lookup events go. Building it opens handles
 * and starts nothing: no timer, no consumer, no migration.
 */
export interface CoreContext {
  config: Config;
  secrets: Secrets;
  logger: Logger;
  clock: Clock;
  random: Random;
  db: Db;
  hasher: ContactHasher;
  directory: DirectoryService;
  policy: CompiledPolicy;
  ipIntel: IpIntel;
  /** The process's Prometheus registry, with the limits' metrics (src/limits/metrics.ts). */
  metrics: LimitMetrics;
  /** Enforcement, campaigns and exposures, decisions, the webhook outbox (src/incidents). */
  incidents: Incidents;
  /** The abuse engine: the request path's guard, and the handler of stored events where consumed. */
  abuse: AbuseService;
  /** Lookup and sign-up events: published here; consumed where the role consumes. */
  events: EventParts['events'];
  eventPipeline: EventParts['eventPipeline'];
  eventConsumer?: EventParts['eventConsumer'];
  eventRetention?: EventParts['eventRetention'];
  /** Console operators: accounts, sign-in, sessions, API tokens (src/operators). */
  operators: OperatorService;
  /** Alerts to Slack and PagerDuty (src/alerts): evaluated and delivered where this process delivers. */
  alerts: Alerts;
}

/** Parts a test, the simulator or a benchmark may swap, whatever the role. */
export interface CoreOverrides {
  logger?: Logger;
  clock?: Clock;
  random?: Random;
  /** The context takes it over and closes it. */
  db?: Db;
  /** A policy in place of FINDGUARD_POLICY / the built-in default (the simulator compares policies). */
  policy?: CompiledPolicy;
  ipIntel?: IpIntel;
  /** Prefix of this service's keys in Redis (tests give each suite its own). */
  redisPrefix?: string;
  events?: EventOptions;
  incidents?: IncidentOptions;
  /** The abuse engine's policy and cadence (default: the active policy's abuse section). */
  abuse?: AbuseServiceOptions;
  /** Build on a database whose schema is behind (only `migrate` itself, and tests of it). */
  allowPendingMigrations?: boolean;
  /** Cheaper password hashing or other session timeouts (tests). */
  operators?: Pick<OperatorServiceDeps, 'scrypt' | 'timeouts'>;
  /** The alerts' secrets in place of the FINDGUARD_ALERT_* variables, signals, delivery tuning (tests). */
  alerts?: AlertsOptions & { secrets?: Record<string, string> };
}

/** A built core, and how to stop what it opened. */
export interface Core {
  core: CoreContext;
  /** Told the account ids whose directory rows changed, after commit (a serving node's caches). */
  onDirectoryChanged(listener: (ids: readonly string[]) => void): void;
  start(): void;
  close(): Promise<void>;
}

export function policyFromConfig(config: Config): CompiledPolicy {
  try {
    return loadPolicy(config.policyPath ?? 'default');
  } catch (err) {
    if (err instanceof PolicyError) throw new ConfigError(ENV_NAMES.policy, err.message);
    throw err;
  }
}

/** The alerts section: FINDGUARD_ALERTS's file where set, else the policy's own. */
function alertsPolicyOf(config: Config, policy: CompiledPolicy): AlertsPolicy | undefined {
  if (!config.alertsPath) return policy.source.alerts;
  try {
    return loadAlertsPolicy(config.alertsPath);
  } catch (err) {
    throw new ConfigError(ENV_NAMES.alerts, (err as Error).message);
  }
}

/**
 * Refuses a database whose schema is behind this findguard: migrations are an explicit step
 * (`findguard migrate`, which `serve` runs before it listens), so a worker or a CLI command
 * started on an old schema says so instead of failing on a missing column later.
 */
async function assertMigrated(db: Db): Promise<void> {
  const pending = await pendingMigrations(db.kysely);
  if (pending.length > 0) {
    throw new ConfigError(ENV_NAMES.databaseUrl, `the database schema is behind this findguard (${pending.length} migration(s) pending, first ${pending[0]}): run \`findguard migrate\` (or \`findguard serve\`, which migrates before it listens)`);
  }
}

/**
 * Builds the shared core. `consume`: this process takes lookup events in from Redis (a worker);
 * `deliver`: it delivers webhooks (serve and worker; never a one-shot CLI command).
 */
export async function createCore(
  config: Config,
  secrets: Secrets,
  overrides: CoreOverrides,
  role: { consume: boolean; deliver: boolean },
): Promise<Core> {
  const logger = overrides.logger ?? createLogger(config.logLevel);
  const clock = overrides.clock ?? systemClock;
  const random = overrides.random ?? cryptoRandom;
  const db = overrides.db ?? openDb(config.database);
  let policy: CompiledPolicy;
  let ipIntel: IpIntel;
  let alertsPolicy: AlertsPolicy | undefined;
  const alertSecrets = overrides.alerts?.secrets ?? readAlertEnv();
  try {
    if (!overrides.allowPendingMigrations) await assertMigrated(db);
    policy = overrides.policy ?? policyFromConfig(config);
    alertsPolicy = alertsPolicyOf(config, policy);
    // A route whose secret is missing could never deliver: said at start, not at the first alert.
    const missing = role.deliver ? missingAlertSecrets(alertsPolicy, alertSecrets) : [];
    if (missing.length > 0) throw new ConfigError(missing[0]!, `is not set, and the policy's alerts section names it (${missing.length > 1 ? `also ${missing.slice(1).join(', ')}` : 'a route cannot deliver without it'})`);
    ipIntel = overrides.ipIntel ?? (await loadIpIntel());
  } catch (err) {
    await db.close();
    throw err;
  }
  const hasher = new ContactHasher(secrets.hashKeys);
  // Told once the account's transaction has committed, whichever way it arrived (PUT or the import); set below, once the events are.
  let emitSignup: NonNullable<DirectoryDeps['onSignup']> | undefined;
  const changed = new Set<(ids: readonly string[]) => void>();
  const directory = new DirectoryService({
    db: db.kysely,
    hasher,
    clock,
    random,
    log: logger.child({ component: 'directory' }),
    onChanged: (ids) => {
      for (const listener of changed) listener(ids);
    },
    onSignup: (id, at, signup) => emitSignup?.(id, at, signup),
  });
  const metrics = new LimitMetrics();
  // The alerts are built after the incidents; a campaign recorded here pokes them once they are.
  let alertsOf: Alerts | undefined;
  const incidentOptions: IncidentOptions = {
    ...(overrides.redisPrefix ? { redisPrefix: overrides.redisPrefix } : {}),
    onCampaignRecorded: () => alertsOf?.campaignOpened(),
    // The engine opens an incident for a campaign past the policy's threshold (src/incidents/incident-lifecycle.ts).
    ...(policy.source.incidents?.openAtExposedAccounts !== undefined ? { openIncidentAtExposedAccounts: policy.source.incidents.openAtExposedAccounts } : {}),
    ...overrides.incidents,
    ...(role.deliver ? {} : { deliver: false }),
  };
  const incidents = createIncidents(config, secrets, { db: db.kysely, directory, clock, random, logger }, incidentOptions);
  const abusePolicy = policy.source.abuse;
  // A rebuilt engine reads the sign-ups back from the accounts table, made as the publisher makes them (resume.ts signupOf).
  const signupOf = (id: string, at: number, signup: { ip: string; deviceId?: string }) => signupEventOf(id, at, signup, ipIntel, policy);
  const abuseOptions = overrides.abuse ?? (abusePolicy ? { policy: abusePolicy } : {});
  const abuse = new AbuseService({ db: db.kysely, incidents, clock, logger, registry: metrics.registry }, { ...abuseOptions, resume: { signupOf, ...abuseOptions.resume } });
  const lateExposures = new LateExposures(incidents.campaigns, logger.child({ component: 'campaigns' }));
  const stagedPolicy = overrides.abuse?.policy ?? abusePolicy ?? WIRED_DEFAULT_POLICY;
  const ev = createEventParts(
    config,
    {
      ...overrides.events,
      handlers: overrides.events?.handlers ?? [abuse, lateExposures],
      purges: [
        { what: 'expired exposure notices', run: () => incidents.notices.purgeExpired() },
        { what: 'erased incarnations', run: () => directory.purgeErasedIncarnations() },
        { what: 'idle answer pools', run: () => abuse.purgeIdlePools(clock.now()) },
      ],
      consume: role.consume,
      ...(overrides.redisPrefix ? { redisPrefix: overrides.redisPrefix } : {}),
      // A partitioned worker runs the engine in stages (src/abuse/stages.ts) with the same policy and enforcer.
      sharded: { enforcer: incidentsEnforcer(incidents, clock, durationMs(stagedPolicy.actions.reinstateGrace)), policy: stagedPolicy, ...overrides.abuse, resume: { signupOf, ...overrides.abuse?.resume }, handlers: [lateExposures] },
    },
    { db, clock, logger, registry: metrics.registry },
  );
  emitSignup = (id, at, signup) => {
    const event = signupEventOf(id, at, signup, ipIntel, policy);
    if (event) ev.events.emitSignup(event);
  };
  const core: CoreContext = {
    config,
    secrets,
    logger,
    clock,
    random,
    db,
    hasher,
    directory,
    policy,
    ipIntel,
    metrics,
    incidents,
    abuse,
    events: ev.events,
    eventPipeline: ev.eventPipeline,
    ...(ev.eventConsumer ? { eventConsumer: ev.eventConsumer } : {}),
    ...(ev.eventRetention ? { eventRetention: ev.eventRetention } : {}),
    operators: new OperatorService({ db: db.kysely, clock, random, logger: logger.child({ component: 'operators' }), totpKeys: secrets.hashKeys, ...overrides.operators }),
    alerts: createAlerts(
      { db: db.kysely, clock, random, logger, registry: metrics.registry, policy: alertsPolicy, secrets: alertSecrets, source: `${hostname()} ${role.consume ? 'worker' : 'serve'}` },
      { incidentClocks: openIncidentClocks, ...overrides.alerts },
    ),
  };
  alertsOf = core.alerts;
  let persistenceReport: Promise<unknown> | undefined;
  return {
    core,
    onDirectoryChanged: (listener) => void changed.add(listener),
    start: () => {
      // Said once at start, beside the process's other start-up lines; the calls do not wait for it.
      if (config.redisUrl) persistenceReport = reportRedisPersistence(config.redisUrl, logger);
      ev.start();
      incidents.start();
      // Every serving node and worker evaluates; the database makes each alert fire once.
      if (role.deliver) core.alerts.start();
    },
    close: async () => {
      await persistenceReport;
      await core.alerts.close();
      await incidents.close(); // the deliverer finishes its round while the database is open
      // Events next: the in-process consumer drains into the database, so it must still be open.
      await ev.close();
      await db.close();
    },
  };
}
