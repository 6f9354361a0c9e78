import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Database } from '../db/schema.js';
import { transaction } from '../db/transaction.js';
import { AppError } from '../errors.js';
import { recordAudit, type AuditTool } from '../incidents/audit.js';
import { compileAlertsPolicy, type AlertRoute, type AlertsPolicy, type CompiledAlertsPolicy } from '../policy/index.js';
import type { Clock } from '../util/clock.js';
import type { Random } from '../util/random.js';
import { AlertDeliverer, type AlertDelivererOptions } from './deliverer.js';
import { AlertEvaluator, registrySignals, type IncidentClockSource, type LocalSignals } from './evaluator.js';
import { AlertStore, type RecentAlert } from './store.js';
import type { SecretLookup } from './sinks.js';

/**
 * Alerts (issue 17 point 4): conditions evaluated on the injected clock by every serving node and
 * worker, fired once across the fleet (unique dedup keys and episode rows in the shared database),
 * delivered to Slack incoming webhooks and the PagerDuty Events API v2 from an outbox with
 * retries, listed in the console with a test button per route. The module's one entry point.
 */

export { ALERT_CONDITIONS, type AlertCondition, type AlertRoute } from '../policy/index.js';
export { AlertDeliverer, type AlertRound } from './deliverer.js';
export { AlertEvaluator, CLOCK_MARKS, registrySignals, type IncidentClock, type IncidentClockSource, type LocalSignals } from './evaluator.js';
export { PAGERDUTY_EVENTS_URL, pagerDutyBody, slackBody, type AlertMessage, type PagerDutyBody, type SlackBody } from './sinks.js';
export { AlertStore, scrub, type NewAlert, type RecentAlert } from './store.js';

/** The operator pressing a test button, as the admin API authenticated them. */
export interface AlertActor {
  id: string;
  name: string;
  role: 'viewer' | 'analyst' | 'admin';
  via: string;
  from: string | null;
  tool: AuditTool;
}

/** A route as the console shows it: which conditions, which sinks, whether their secrets are set (never the secrets). */
export interface RouteView {
  name: string;
  on: string[];
  slack: { webhookUrlEnv: string; configured: boolean } | null;
  pagerduty: { routingKeyEnv: string; severity: string | null; configured: boolean } | null;
}

export interface Alerts {
  policy: CompiledAlertsPolicy;
  store: AlertStore;
  evaluator: AlertEvaluator;
  deliverer: AlertDeliverer;
  routes(): RouteView[];
  recent(limit?: number): Promise<RecentAlert[]>;
  /** Queues a test alert to every sink of that route; audited in the same transaction. */
  sendTest(actor: AlertActor, routeName: string): Promise<RecentAlert>;
  /** A campaign was opened in this process: evaluate now rather than at the next tick. */
  campaignOpened(): void;
  /** Evaluates and delivers periodically (serve and worker); building starts nothing. */
  start(): void;
  close(): Promise<void>;
}

export interface AlertsDeps {
  db: Kysely<Database>;
  clock: Clock;
  random: Random;
  logger: Logger;
  registry: Registry;
  /** The policy file's alerts section. */
  policy: AlertsPolicy | undefined;
  /** FINDGUARD_ALERT_* variables (src/config/env.ts readAlertEnv). */
  secrets: Readonly<Record<string, string>>;
  /** Names this node in alerts (PagerDuty's `source`). */
  source: string;
}

export interface AlertsOptions {
  /** The incidents module's openIncidentClocks, once it exists (src/incidents). */
  incidentClocks?: IncidentClockSource;
  /** Instead of this process's registry (tests). */
  signals?: LocalSignals;
  delivery?: Partial<Pick<AlertDelivererOptions, 'maxAttempts' | 'baseDelayMs' | 'maxDelayMs' | 'timeoutMs' | 'pollMs'>>;
}

/** Every secret a route names must be set: a route that could never deliver is a start-up error. */
export function missingAlertSecrets(policy: AlertsPolicy | undefined, secrets: Readonly<Record<string, string>>): string[] {
  const names = (policy?.routes ?? []).flatMap((r) => [r.slack?.webhookUrlEnv, r.pagerduty?.routingKeyEnv].filter((n): n is string => n !== undefined));
  return [...new Set(names.filter((n) => !secrets[n]))];
}

export function createAlerts(deps: AlertsDeps, opts: AlertsOptions = {}): Alerts {
  const policy = compileAlertsPolicy(deps.policy);
  const routes = (): readonly AlertRoute[] => policy.routes;
  const secret: SecretLookup = (name) => deps.secrets[name];
  const logger = deps.logger.child({ component: 'alerts' });
  let deliverer: AlertDeliverer | undefined;
  const storeDeps = { random: deps.random, log: logger, routes, onQueued: () => deliverer?.poke() };
  const store = new AlertStore({ ...storeDeps, db: deps.db });
  deliverer = new AlertDeliverer({ ...opts.delivery, store, routes, secret, source: deps.source, clock: deps.clock, random: deps.random, logger });
  const evaluator = new AlertEvaluator({
    db: deps.db,
    store,
    policy: () => policy,
    signals: opts.signals ?? registrySignals(deps.registry),
    ...(opts.incidentClocks ? { incidentClocks: opts.incidentClocks } : {}),
    clock: deps.clock,
    random: deps.random,
    logger,
  });
  const theDeliverer = deliverer;
  return {
    policy,
    store,
    evaluator,
    deliverer: theDeliverer,
    routes: () =>
      policy.routes.map((r) => ({
        name: r.name,
        on: [...r.on],
        slack: r.slack ? { webhookUrlEnv: r.slack.webhookUrlEnv, configured: Boolean(secret(r.slack.webhookUrlEnv)) } : null,
        pagerduty: r.pagerduty ? { routingKeyEnv: r.pagerduty.routingKeyEnv, severity: r.pagerduty.severity ?? null, configured: Boolean(secret(r.pagerduty.routingKeyEnv)) } : null,
      })),
    recent: (limit = 50) => store.recent(Math.min(Math.max(limit, 1), 200)),
    sendTest: async (actor, routeName) => {
      const route = policy.routes.find((r) => r.name === routeName);
      if (!route) throw new AppError('not_found', 'no such alert route');
      const now = deps.clock.now();
      const id = await transaction(
        deps.db,
        async (tx) => {
          const alertId = await new AlertStore({ ...storeDeps, db: tx }).fire(
            {
              condition: 'test',
              action: 'trigger',
              dedupKey: `test:${deps.random.bytes(12).toString('hex')}`,
              subject: `findguard/test/${route.name}`,
              severity: 'info',
              summary: `Test alert for route ${route.name}, sent by ${actor.name} from the findguard console`,
              details: { route: route.name, conditions: route.on.join(', ') },
            },
            now,
            { test: true, routes: [route] },
          );
          if (!alertId) throw new Error('a test alert collided with another');
          await recordAudit(
            tx,
            { actor: { id: actor.id, name: actor.name, role: actor.role, via: actor.via }, from: actor.from, tool: actor.tool, action: 'alert.test', subject: `alert-route:${route.name}`, after: { alertId } },
            now,
            deps.random,
          );
          return alertId;
        },
        logger,
      );
      const [sent] = (await store.recent(200)).filter((a) => a.id === id);
      if (!sent) throw new Error('the test alert vanished');
      return sent;
    },
    campaignOpened: () => evaluator.poke(),
    start: () => {
      evaluator.start();
      theDeliverer.start();
    },
    close: async () => {
      await evaluator.stop();
      await theDeliverer.stop();
    },
  };
}
