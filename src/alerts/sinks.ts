import type { AlertRoute, PagerDutySeverity } from '../policy/index.js';

/**
 * The two sinks, as their vendors document them: a Slack incoming webhook (a JSON body with
 * `text` and Block Kit `blocks`) and the PagerDuty Events API v2 (`/v2/enqueue` with routing_key,
 * event_action, dedup_key and, for a trigger, payload {summary, source, severity, timestamp,
 * custom_details}). Hand-written over fetch: each is one POST, and the vendors' SDKs would add a
 * dependency for a JSON body.
 */

export const PAGERDUTY_EVENTS_URL = 'https://events.pagerduty.com/v2/enqueue';

/** An alert as the sinks see it (a row of the alerts table, parsed). */
export interface AlertMessage {
  id: string;
  condition: string;
  action: 'trigger' | 'resolve';
  /** PagerDuty's dedup_key: the same for a campaign's, an incident's or an episode's alerts. */
  subject: string;
  severity: PagerDutySeverity;
  summary: string;
  details: Record<string, unknown>;
  createdAt: number;
  test: boolean;
}

export type Sink = 'slack' | 'pagerduty';

export interface SlackBody {
  text: string;
  blocks: Array<Record<string, unknown>>;
}

export function slackBody(a: AlertMessage, source: string): SlackBody {
  const icon = a.action === 'resolve' ? ':white_check_mark:' : a.severity === 'critical' || a.severity === 'error' ? ':rotating_light:' : ':warning:';
  const title = `${a.test ? '[test] ' : ''}${a.action === 'resolve' ? 'Resolved: ' : ''}${a.summary}`;
  const fields = Object.entries(a.details)
    .slice(0, 10)
    .map(([k, v]) => ({ type: 'mrkdwn', text: `*${k}*\n${typeof v === 'string' ? v : JSON.stringify(v)}` }));
  return {
    text: `${icon} ${title}`,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: `${icon} *${escapeSlack(title)}*` } },
      ...(fields.length > 0 ? [{ type: 'section', fields }] : []),
      { type: 'context', elements: [{ type: 'mrkdwn', text: `findguard ${escapeSlack(source)} · ${a.condition} · ${new Date(a.createdAt).toISOString()} · ${a.subject} · ${a.id}` }] },
    ],
  };
}

export interface PagerDutyBody {
  routing_key: string;
  event_action: 'trigger' | 'resolve';
  dedup_key: string;
  client: string;
  payload?: {
    summary: string;
    source: string;
    severity: PagerDutySeverity;
    timestamp: string;
    component: string;
    class: string;
    custom_details: Record<string, unknown>;
  };
}

export function pagerDutyBody(a: AlertMessage, routingKey: string, source: string, severity?: PagerDutySeverity): PagerDutyBody {
  const base = { routing_key: routingKey, event_action: a.action, dedup_key: a.subject, client: 'findguard' };
  if (a.action === 'resolve') return base;
  return {
    ...base,
    payload: {
      // PagerDuty truncates at 1024 characters; cut here so the cut is ours.
      summary: `${a.test ? '[test] ' : ''}${a.summary}`.slice(0, 1024),
      source,
      severity: severity ?? a.severity,
      timestamp: new Date(a.createdAt).toISOString(),
      component: 'findguard',
      class: a.condition,
      custom_details: { ...a.details, alertId: a.id },
    },
  };
}

function escapeSlack(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** What a delivery needs from a route, secrets included (never stored, never logged). */
export interface SinkTarget {
  url: string;
  body: string;
}

export type SecretLookup = (name: string) => string | undefined;

/** The request for one sink of a route, or why it cannot be made (a missing secret). */
export function targetOf(route: AlertRoute, sink: Sink, a: AlertMessage, secret: SecretLookup, source: string): SinkTarget | string {
  if (sink === 'slack') {
    if (!route.slack) return `route ${route.name} has no slack sink any more`;
    const url = secret(route.slack.webhookUrlEnv);
    if (!url) return `${route.slack.webhookUrlEnv} is not set`;
    return { url, body: JSON.stringify(slackBody(a, source)) };
  }
  if (!route.pagerduty) return `route ${route.name} has no pagerduty sink any more`;
  const key = secret(route.pagerduty.routingKeyEnv);
  if (!key) return `${route.pagerduty.routingKeyEnv} is not set`;
  return { url: route.pagerduty.url ?? PAGERDUTY_EVENTS_URL, body: JSON.stringify(pagerDutyBody(a, key, source, route.pagerduty.severity)) };
}

/** undefined on a 2xx; otherwise why not, safe to store (never the URL, which holds Slack's secret, nor the body). */
export async function post(target: SinkTarget, timeoutMs: number): Promise<string | undefined> {
  try {
    const res = await fetch(target.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'findguard-alerts' },
      body: target.body,
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
    await res.body?.cancel().catch(() => undefined);
    return res.status >= 200 && res.status < 300 ? undefined : `HTTP ${res.status}`;
  } catch (err) {
    if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) return `timeout after ${timeoutMs} ms`;
    const cause = err instanceof Error ? (err.cause as { code?: unknown } | undefined) : undefined;
    // Only a code: an error's message may quote the URL, and Slack's URL is the secret.
    return typeof cause?.code === 'string' ? cause.code : 'request failed';
  }
}
