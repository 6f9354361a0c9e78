import { readFileSync } from 'node:fs';
import { Type, type Static } from 'typebox';
import { Compile } from 'typebox/compile';
import { parse as parseYaml } from 'yaml';
import { DURATION_PATTERN, durationMs } from './duration.js';

/**
 * The policy file's `alerts` section (src/alerts): which conditions go to which Slack channel or
 * PagerDuty service, and the thresholds of the conditions that have one. The file names the
 * environment variables that hold the Slack webhook URL and the PagerDuty routing key, never the
 * secrets themselves, so a policy file can be committed, printed and shown in the console.
 */

export const ALERT_CONDITIONS = [
  'campaign.opened',
  'breaker.tripped',
  'events.lost',
  'engine.behind',
  'webhooks.failing',
  'incident.clock-48h',
  'incident.clock-66h',
] as const;
export type AlertCondition = (typeof ALERT_CONDITIONS)[number];

export const PAGERDUTY_SEVERITIES = ['critical', 'error', 'warning', 'info'] as const;
export type PagerDutySeverity = (typeof PAGERDUTY_SEVERITIES)[number];

const Duration = Type.Union([Type.String({ pattern: DURATION_PATTERN }), Type.Number({ minimum: 0 })]);
/** Only FINDGUARD_ALERT_* variables are read for alerts (src/config/env.ts readAlertEnv). */
const EnvName = Type.String({ pattern: '^FINDGUARD_ALERT_[A-Z0-9_]{1,64}$', description: 'The environment variable holding the secret' });
const HttpUrl = Type.String({ pattern: '^https?://[^\\s]+$', maxLength: 2000 });

export const AlertRoute = Type.Object(
  {
    /** Shown in the console and the audit trail; unique in the file. */
    name: Type.String({ pattern: '^[a-z][a-z0-9-]{0,39}$' }),
    on: Type.Array(Type.Enum(ALERT_CONDITIONS), { minItems: 1, uniqueItems: true }),
    slack: Type.Optional(Type.Object({ webhookUrlEnv: EnvName }, { additionalProperties: false })),
    pagerduty: Type.Optional(
      Type.Object(
        {
          routingKeyEnv: EnvName,
          /** Every alert of this route goes with this severity (default: the condition's own). */
          severity: Type.Optional(Type.Enum(PAGERDUTY_SEVERITIES)),
          /** The Events API v2 endpoint; default https://events.pagerduty.com/v2/enqueue. */
          url: Type.Optional(HttpUrl),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type AlertRoute = Static<typeof AlertRoute>;

export const AlertsPolicy = Type.Object(
  {
    routes: Type.Array(AlertRoute),
    /** How often each serving node and worker evaluates the conditions (default 15s). */
    evaluateEvery: Type.Optional(Duration),
    /** engine.behind: unread entries in the event stream, or seconds behind while entries wait. */
    engineBehind: Type.Optional(
      Type.Object({ streamEntries: Type.Optional(Type.Integer({ minimum: 1 })), seconds: Type.Optional(Type.Number({ exclusiveMinimum: 0 })) }, { additionalProperties: false }),
    ),
    /** webhooks.failing: at least `deliveries` webhooks of the last `window` undelivered after `attempts` tries. */
    webhooksFailing: Type.Optional(
      Type.Object(
        { deliveries: Type.Optional(Type.Integer({ minimum: 1 })), attempts: Type.Optional(Type.Integer({ minimum: 1 })), window: Type.Optional(Duration) },
        { additionalProperties: false },
      ),
    ),
    /** campaign.opened: campaigns detected this long ago or less are alerted on (a node that was down catches up). */
    campaignLookback: Type.Optional(Duration),
  },
  { additionalProperties: false },
);
export type AlertsPolicy = Static<typeof AlertsPolicy>;

export interface CompiledAlertsPolicy {
  routes: AlertRoute[];
  evaluateEveryMs: number;
  engineBehind: { streamEntries: number; seconds: number };
  webhooksFailing: { deliveries: number; attempts: number; windowMs: number };
  campaignLookbackMs: number;
}

/** Defaults and the checks a schema cannot express. Throws with the path at fault. */
export function compileAlertsPolicy(p: AlertsPolicy | undefined): CompiledAlertsPolicy {
  const routes = p?.routes ?? [];
  const seen = new Set<string>();
  routes.forEach((r, i) => {
    if (seen.has(r.name)) throw new RangeError(`routes[${i}].name "${r.name}" is used twice`);
    seen.add(r.name);
    if (!r.slack && !r.pagerduty) throw new RangeError(`routes[${i}] ("${r.name}") has neither slack nor pagerduty`);
  });
  const every = durationMs(p?.evaluateEvery ?? '15s');
  if (every < 1000) throw new RangeError('evaluateEvery must be at least 1s');
  return {
    routes,
    evaluateEveryMs: every,
    engineBehind: { streamEntries: p?.engineBehind?.streamEntries ?? 100_000, seconds: p?.engineBehind?.seconds ?? 300 },
    webhooksFailing: {
      deliveries: p?.webhooksFailing?.deliveries ?? 10,
      attempts: p?.webhooksFailing?.attempts ?? 3,
      windowMs: durationMs(p?.webhooksFailing?.window ?? '6h'),
    },
    campaignLookbackMs: durationMs(p?.campaignLookback ?? '1d'),
  };
}

const checkAlerts = Compile(AlertsPolicy);

/**
 * The alerts section from a file of its own (FINDGUARD_ALERTS), so a deployment on a built-in
 * policy routes alerts without copying the policy. Throws with the path at fault.
 */
export function loadAlertsPolicy(file: string): AlertsPolicy {
  let parsed: unknown;
  try {
    const text = readFileSync(file, 'utf8');
    parsed = /\.json$/i.test(file) ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new RangeError(`${file}: not a readable JSON or YAML file (${(err as Error).message.split('\n')[0]})`);
  }
  // The file may hold the section alone or under an `alerts` key.
  const section = parsed !== null && typeof parsed === 'object' && 'alerts' in parsed ? (parsed as { alerts: unknown }).alerts : parsed;
  if (!checkAlerts.Check(section)) {
    const first = [...checkAlerts.Errors(section)][0];
    throw new RangeError(`${file}: ${first ? `${first.instancePath || '/'} ${first.message}` : 'invalid'}`);
  }
  try {
    compileAlertsPolicy(section);
  } catch (err) {
    throw new RangeError(`${file}: ${(err as Error).message}`);
  }
  return section;
}
