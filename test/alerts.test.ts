import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Counter, Gauge } from 'prom-client';
import { scrub } from '../src/alerts/index.js';
import { alertDb } from '../src/alerts/tables.js';
import { listAudit } from '../src/incidents/index.js';
import { createLogger } from '../src/logger.js';
import { createService, type Service } from '../src/main.js';
import { compilePolicy, DEFAULT_POLICY, type AlertsPolicy } from '../src/policy/index.js';
import { SeededRandom } from '../src/util/random.js';
import { AlertReceiver } from './helpers/alert-receiver.js';
import { makeEvent } from './helpers/events.js';
import { eventually } from './helpers/processes.js';
import { mirrorAccount } from './helpers/fixtures.js';
import { addOperator, OPERATOR_OVERRIDES, signIn, type SignedIn } from './helpers/operators.js';
import { describeEachDialect, LogCapture, startTestService, T0, type TestService } from './helpers/service.js';

/**
 * Alerts (src/alerts) on both databases, across two serving nodes sharing the database, each with
 * its own evaluator on one injected clock: every condition fires once (the 72-hour clock at 48 h
 * and 66 h once each), Slack and PagerDuty bodies as a real local HTTP server receives them,
 * dedup_key stable per incident and campaign, retries, the console's test button.
 */

// Generous: two nodes and their deliverers on two loaded cores.
vi.setConfig({ testTimeout: 90_000 });

const HOUR = 3_600_000;
const ROUTING_KEY = 'R0UT1NGKEY0123456789abcdefABCDEF';

function alertsPolicy(receiver: string): AlertsPolicy {
  return {
    // Long: the timers evaluate once at start; the test drives evaluate() on the manual clock.
    evaluateEvery: '1h',
    webhooksFailing: { deliveries: 3, attempts: 2, window: '6h' },
    engineBehind: { streamEntries: 1000, seconds: 60 },
    routes: [
      { name: 'oncall', on: ['campaign.opened', 'breaker.tripped', 'events.lost', 'engine.behind', 'webhooks.failing', 'incident.clock-48h', 'incident.clock-66h'], slack: { webhookUrlEnv: 'FINDGUARD_ALERT_SLACK_ONCALL' }, pagerduty: { routingKeyEnv: 'FINDGUARD_ALERT_PD_KEY', url: `${receiver}/pd` } },
      { name: 'privacy', on: ['incident.clock-66h'], slack: { webhookUrlEnv: 'FINDGUARD_ALERT_SLACK_PRIVACY' } },
    ],
  };
}

describeEachDialect('alerts', (dialect) => {
  const receiver = new AlertReceiver();
  let a: TestService;
  let b: Service;
  let admin: SignedIn;
  let viewer: SignedIn;

  beforeAll(async () => {
    await receiver.start();
    const policy = compilePolicy({ ...structuredClone(DEFAULT_POLICY), alerts: alertsPolicy(receiver.url) }, 'alerts-test');
    const alerts = {
      secrets: { FINDGUARD_ALERT_SLACK_ONCALL: `${receiver.url}/slack/oncall`, FINDGUARD_ALERT_SLACK_PRIVACY: `${receiver.url}/slack/privacy`, FINDGUARD_ALERT_PD_KEY: ROUTING_KEY },
      delivery: { baseDelayMs: 1000, maxDelayMs: 4000, maxAttempts: 3, pollMs: 200 },
    };
    a = await startTestService(dialect, {}, { ...OPERATOR_OVERRIDES, policy, alerts });
    // A second serving node on the same database and clock: its own evaluator and deliverer. On
    // SQLite it shares the first node's handle: two handles on one file in one process would block
    // each other's event loop (better-sqlite3 waits synchronously), which separate processes do not.
    const db = dialect === 'sqlite' ? { db: { ...a.ctx.db, close: async () => undefined } } : {};
    // Nodes on one database share their limits (a node with limits of its own is its database's
    // only one: src/db/node-lock.ts); in one process, the first node's store stands for Redis.
    const limits = { limitStore: a.ctx.limitStore };
    b = await createService(a.config, a.secrets, { ...OPERATOR_OVERRIDES, ...db, ...limits, migrate: false, clock: a.clock, random: new SeededRandom(7), logger: createLogger('info', new LogCapture()), policy, alerts });
  }, 120_000);
  afterAll(async () => {
    await b?.close();
    await a?.stop();
    await receiver.stop();
  });

  /**
   * Waits for deliveries. A transient failure on a loaded machine (a reset connection) retries at a
   * time of the manual clock, so the clock moves on while waiting; on timeout, what each delivery did.
   */
  const delivered = async (check: () => boolean | Promise<boolean>, what: string) => {
    let polls = 0;
    await eventually(what, () => {
      if (++polls % 40 === 0) a.clock.advance(5000);
      return check();
    }).catch(async (err: Error) => {
      const state = (await a.ctx.alerts.recent(50)).map((x) => `${x.condition} ${x.action} ${x.subject}: ${JSON.stringify(x.deliveries)}`);
      throw new Error(`${err.message}\n${state.join('\n')}\nreceived: ${receiver.received.map((r) => `${r.path} ${String(r.body.dedup_key ?? r.body.text)}`).join('\n')}`);
    });
  };
  const both = async () => {
    // The two nodes evaluate at the same instant, twice: each alert must still fire once.
    await Promise.all([a.ctx.alerts.evaluator.evaluate(), b.ctx.alerts.evaluator.evaluate()]);
    await Promise.all([a.ctx.alerts.evaluator.evaluate(), b.ctx.alerts.evaluator.evaluate()]);
  };
  const rows = (condition: string) => alertDb(a.ctx.db.kysely).selectFrom('alerts').selectAll().where('condition', '=', condition).orderBy('id').execute();
  // Delivery is at least once: a retry after a timed-out attempt that did arrive repeats the same
  // bytes, so what was received is counted by distinct body (an alert fired twice differs in its id).
  const distinct = <T extends { raw: string }>(xs: T[]) => xs.filter((x, i) => xs.findIndex((y) => y.raw === x.raw) === i);
  const pd = (dedupKey: string) => distinct(receiver.at('/pd').filter((r) => r.body.dedup_key === dedupKey));
  const slack = (route: string, text: string) => distinct(receiver.at(`/slack/${route}`).filter((r) => String(r.body.text).includes(text)));

  it('an incident\'s 72-hour clock alerts at 48 h and at 66 h, once each across two nodes, under one dedup_key; its title\'s email and number never leave', async () => {
    const id = 'inc_clock_1';
    await a.ctx.db.kysely
      .insertInto('incidents')
      .values({ id, title: 'Scrape reported by jane.doe@example.org, call +44 20 7946 0958', status: 'in_review', aware_at: T0, created_at: T0, updated_at: T0, owner: null, opened_by: 'op-someone', source: 'operator', notes: '', engine_campaign_id: null, notified_at: null, notices: null, closed_at: null })
      .execute();
    a.clock.set(T0 + 48 * HOUR - 1);
    await both();
    expect(await rows('incident.clock-48h')).toHaveLength(0);

    a.clock.set(T0 + 48 * HOUR);
    await both();
    expect(await rows('incident.clock-48h')).toHaveLength(1);
    expect(await rows('incident.clock-66h')).toHaveLength(0);
    await delivered(() => pd(`findguard/incident/${id}`).length === 1 && slack('oncall', id).length === 1, '48 h alert at Slack and PagerDuty');

    a.clock.set(T0 + 66 * HOUR);
    await both();
    a.clock.set(T0 + 71 * HOUR);
    await both();
    expect(await rows('incident.clock-48h')).toHaveLength(1);
    expect(await rows('incident.clock-66h')).toHaveLength(1);
    await delivered(() => pd(`findguard/incident/${id}`).length === 2 && slack('privacy', id).length === 1, '66 h alert on both routes');
    expect(slack('oncall', id)).toHaveLength(2);

    const [p48, p66] = pd(`findguard/incident/${id}`).map((r) => r.body);
    expect(p48).toMatchObject({ routing_key: ROUTING_KEY, event_action: 'trigger', dedup_key: `findguard/incident/${id}`, payload: { severity: 'warning', source: expect.any(String), custom_details: { incidentId: id, hoursPassed: 48 } } });
    expect(p66).toMatchObject({ event_action: 'trigger', dedup_key: `findguard/incident/${id}`, payload: { severity: 'critical', custom_details: { incidentId: id, hoursPassed: 66, deadline: new Date(T0 + 72 * HOUR).toISOString() } } });
    const payload = p48!.payload as { summary: string; timestamp: string };
    expect(new Date(payload.timestamp).getTime()).toBe(T0 + 48 * HOUR);
    expect(payload.summary).toContain('48 h of the GDPR 72-hour clock');
    for (const r of receiver.received) {
      expect(r.raw).not.toContain('jane.doe');
      expect(r.raw).not.toContain('7946');
    }
    const s = slack('oncall', id)[0]!.body as { text: string; blocks: Array<{ type: string }> };
    expect(typeof s.text).toBe('string');
    expect(s.blocks.map((x) => x.type)).toEqual(['section', 'section', 'context']);

    // Notified: the clock stops, and its PagerDuty incident is resolved once, under the same dedup_key.
    await a.ctx.db.kysely.updateTable('incidents').set({ status: 'notified', notified_at: a.clock.now() }).where('id', '=', id).execute();
    await both();
    await delivered(() => pd(`findguard/incident/${id}`).length === 3, 'the resolve at PagerDuty');
    expect(pd(`findguard/incident/${id}`)[2]!.body).toEqual({ routing_key: ROUTING_KEY, event_action: 'resolve', dedup_key: `findguard/incident/${id}`, client: 'findguard' });
    await both();
    expect((await rows('incident.clock-66h')).map((r) => r.action)).toEqual(['trigger', 'resolve']);
  });

  it('a new campaign alerts at once where it is opened, once across both nodes, with a dedup_key of its own', async () => {
    a.clock.set(T0 + 80 * HOUR);
    for (const id of ['attacker-1', 'attacker-2']) await mirrorAccount(a, id, [], { createdAt: new Date(T0 - 400 * 24 * HOUR).toISOString() });
    await mirrorAccount(a, 'alert-victim', []);
    // attacker-1 found a person and attacker-2: a member of the fleet found is no exposed account.
    const at = a.clock.now() - 60_000;
    await a.ctx.eventPipeline.process([
      makeEvent(9901, { accountId: 'attacker-1', at, revealed: ['alert-victim'], matched: 1, numbers: 1, blocks: {} }),
      makeEvent(9902, { accountId: 'attacker-1', at: at + 1, revealed: ['attacker-2'], matched: 1, numbers: 1, blocks: {} }),
    ]);
    const { campaignId } = await a.ctx.incidents.campaigns.openCampaign({ clusterId: 'cluster-alerts', accountIds: ['attacker-1', 'attacker-2'], score: 0.9, evidence: { why: 'test' } });
    // The direct trigger: the node that opened it evaluates at once (the timers' next round is an hour away).
    await eventually('the campaign alert from the opening node', async () => (await rows('campaign.opened')).length === 1);
    await both();
    expect(await rows('campaign.opened')).toHaveLength(1);
    await delivered(() => pd(`findguard/campaign/${campaignId}`).length === 1, 'the campaign at PagerDuty');
    expect(pd(`findguard/campaign/${campaignId}`)[0]!.body).toMatchObject({ event_action: 'trigger', payload: { severity: 'error', custom_details: { campaignId, attackerAccounts: 2, exposedAccounts: 1 } } });
  });

  it('the breaker: triggered once by the node that saw it, resolved by that node only (an idle node\'s gauge reads 0)', async () => {
    const tripped = (svc: Service) => svc.ctx.metrics.registry.getSingleMetric('findguard_breaker_tripped') as Gauge;
    tripped(a).set(1);
    await both();
    const [trigger] = await rows('breaker.tripped');
    expect(trigger).toMatchObject({ action: 'trigger' });
    // b has never seen it tripped: its 0 must not close a's episode.
    await b.ctx.alerts.evaluator.evaluate();
    expect(await rows('breaker.tripped')).toHaveLength(1);
    tripped(a).set(0);
    await both();
    const all = await rows('breaker.tripped');
    expect(all.map((r) => r.action)).toEqual(['trigger', 'resolve']);
    expect(all[1]!.subject).toBe(trigger!.subject);
    await delivered(() => pd(trigger!.subject).length === 2, 'trigger and resolve at PagerDuty');
    expect(pd(trigger!.subject).map((r) => r.body.event_action)).toEqual(['trigger', 'resolve']);
    expect(pd(trigger!.subject)[1]!.body.payload).toBeUndefined();
  });

  it('the engine falling behind (the leading worker\'s stream lag) and events lost', async () => {
    const reg = a.ctx.metrics.registry;
    (reg.getSingleMetric('findguard_events_consumer_leading') as Gauge).set(1);
    (reg.getSingleMetric('findguard_events_stream_lag') as Gauge).set(5000);
    (reg.getSingleMetric('findguard_events_lost_total') as Counter).inc(7);
    await both();
    expect((await rows('engine.behind')).map((r) => r.action)).toEqual(['trigger']);
    const lost = await rows('events.lost');
    expect(lost).toHaveLength(1);
    expect(JSON.parse(lost[0]!.details)).toMatchObject({ lost: 7 });
    (reg.getSingleMetric('findguard_events_stream_lag') as Gauge).set(0);
    await both();
    expect((await rows('engine.behind')).map((r) => r.action)).toEqual(['trigger', 'resolve']);
    expect(await rows('events.lost')).toHaveLength(1);
  });

  it('webhooks failing beyond the threshold: one trigger, one resolve once delivered', async () => {
    const now = a.clock.now();
    // Time-ordered ids, as the outbox makes them (the evaluator bounds its scan by them).
    const ids = [1, 2, 3].map((i) => `evt_${now.toString(16).padStart(12, '0')}fail${i}`);
    for (const id of ids) {
      await a.ctx.db.kysely.insertInto('webhook_outbox').values({ id, event_type: 'account.suspended', payload: '{}', created_at: now, next_attempt_at: now + HOUR, attempts: 2, delivered_at: null, last_error: 'HTTP 503' }).execute();
    }
    await both();
    expect((await rows('webhooks.failing')).map((r) => r.action)).toEqual(['trigger']);
    await a.ctx.db.kysely.updateTable('webhook_outbox').set({ delivered_at: now, next_attempt_at: null }).where('id', 'in', ids).execute();
    await both();
    expect((await rows('webhooks.failing')).map((r) => r.action)).toEqual(['trigger', 'resolve']);
  });

  it('a failing sink is retried with backoff and its failures are visible; delivered once it answers', async () => {
    // Earlier alerts delivered first, so the one failure below is this alert's.
    await delivered(async () => (await a.ctx.alerts.recent(200)).every((x) => x.deliveries.every((d) => d.state === 'delivered')), 'earlier alerts delivered');
    receiver.scripts.set('/slack/oncall', [500]);
    const reg = a.ctx.metrics.registry;
    (reg.getSingleMetric('findguard_events_lost_total') as Counter).inc(1);
    const [id] = await a.ctx.alerts.evaluator.evaluate();
    expect(id).toBeDefined();
    const slackOf = async () => (await a.ctx.alerts.recent(200)).find((x) => x.id === id)!.deliveries.find((d) => d.sink === 'slack')!;
    await eventually('the first attempt failing', async () => (await slackOf()).lastError === 'HTTP 500');
    expect(await slackOf()).toMatchObject({ state: 'pending', attempts: 1 });
    a.clock.advance(5000);
    await eventually('the retry delivered', async () => (await slackOf()).state === 'delivered');
    expect((await slackOf()).attempts).toBe(2);
  });

  it('the console: routes and recent alerts for a viewer; a test alert per route for an admin only, audited, with CSRF', async () => {
    // Signed in now: the sessions of the start idled out as the clock ran through the 72 hours.
    admin = await signIn(a, await addOperator(a, 'op-admin2', 'admin'));
    viewer = await signIn(a, await addOperator(a, 'op-viewer2', 'viewer'));
    const list = await a.app.inject({ method: 'GET', url: '/admin/v1/alerts?limit=100', headers: viewer.headers });
    expect(list.statusCode).toBe(200);
    const body = list.json();
    expect(body.routes).toEqual([
      { name: 'oncall', on: expect.arrayContaining(['incident.clock-48h']), slack: { webhookUrlEnv: 'FINDGUARD_ALERT_SLACK_ONCALL', configured: true }, pagerduty: { routingKeyEnv: 'FINDGUARD_ALERT_PD_KEY', severity: null, configured: true } },
      { name: 'privacy', on: ['incident.clock-66h'], slack: { webhookUrlEnv: 'FINDGUARD_ALERT_SLACK_PRIVACY', configured: true }, pagerduty: null },
    ]);
    expect(body.recent.length).toBeGreaterThan(5);
    expect(list.body).not.toContain(ROUTING_KEY);
    expect(list.body).not.toContain(receiver.url);

    expect((await a.app.inject({ method: 'POST', url: '/admin/v1/alerts/routes/oncall/test', headers: viewer.headers })).statusCode).toBe(403);
    expect((await a.app.inject({ method: 'POST', url: '/admin/v1/alerts/routes/oncall/test', headers: { cookie: admin.cookie } })).json().error.code).toBe('csrf_invalid');
    expect((await a.app.inject({ method: 'POST', url: '/admin/v1/alerts/routes/nope/test', headers: admin.headers })).statusCode).toBe(404);
    const sent = await a.app.inject({ method: 'POST', url: '/admin/v1/alerts/routes/oncall/test', headers: admin.headers });
    expect(sent.statusCode).toBe(201);
    const alert = sent.json();
    expect(alert).toMatchObject({ condition: 'test', test: true, subject: 'findguard/test/oncall' });
    expect(alert.deliveries.map((d: { sink: string }) => d.sink).sort()).toEqual(['pagerduty', 'slack']);
    await delivered(() => pd('findguard/test/oncall').length === 1 && slack('oncall', '[test]').length === 1, 'the test alert at both sinks');
    expect(pd('findguard/test/oncall')[0]!.body).toMatchObject({ payload: { severity: 'info', summary: expect.stringContaining('[test]') } });
    const audit = await listAudit(a.ctx.db.kysely, { subject: 'alert-route:oncall', limit: 5 });
    expect(audit[0]).toMatchObject({ action: 'alert.test', actor: { name: 'op-admin2' }, after: { alertId: alert.id } });
  });
});

describe('alerts configuration', () => {
  const base = () => structuredClone(DEFAULT_POLICY);
  const compile = (alerts: unknown) => () => compilePolicy({ ...base(), alerts }, 'p.yaml');

  it('names what is wrong', () => {
    expect(compile({ routes: [{ name: 'x', on: ['campaign.opened'] }] })).toThrow('policy p.yaml: alerts: routes[0] ("x") has neither slack nor pagerduty');
    expect(compile({ routes: [{ name: 'x', on: ['moon.landing'], slack: { webhookUrlEnv: 'FINDGUARD_ALERT_X' } }] })).toThrow(/policy p\.yaml: \/alerts\/routes\/0\/on\/0/);
    expect(compile({ routes: [{ name: 'x', on: ['campaign.opened'], slack: { webhookUrlEnv: 'HOME' } }] })).toThrow(/\/alerts\/routes\/0\/slack\/webhookUrlEnv/);
    // A secret in the file instead of a variable's name is refused, not stored.
    expect(compile({ routes: [{ name: 'x', on: ['campaign.opened'], slack: { url: 'https://hooks.slack.com/services/T/B/secret' } }] })).toThrow(/\/alerts\/routes\/0\/slack/);
    expect(compile({ routes: [{ name: 'x', on: ['campaign.opened'], pagerduty: { routingKeyEnv: 'FINDGUARD_ALERT_PD', severity: 'loud' } }] })).toThrow(/\/alerts\/routes\/0\/pagerduty\/severity/);
    const twice = { name: 'x', on: ['campaign.opened'], slack: { webhookUrlEnv: 'FINDGUARD_ALERT_X' } };
    expect(compile({ routes: [twice, twice] })).toThrow('alerts: routes[1].name "x" is used twice');
    expect(compile({ routes: [twice] })).not.toThrow();
  });

  it('FINDGUARD_ALERTS: the section from a file of its own, over a built-in policy; a bad one names the file and the path', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'findguard-alerts-conf-'));
    try {
      const good = join(dir, 'alerts.yaml');
      writeFileSync(good, 'routes:\n  - name: privacy\n    on: [incident.clock-48h]\n    slack: { webhookUrlEnv: FINDGUARD_ALERT_SLACK }\n');
      const svc = await startTestService('sqlite', { alerts: good }, { alerts: { secrets: { FINDGUARD_ALERT_SLACK: 'http://127.0.0.1:9/slack' } } });
      try {
        expect(svc.ctx.alerts.routes()).toEqual([{ name: 'privacy', on: ['incident.clock-48h'], slack: { webhookUrlEnv: 'FINDGUARD_ALERT_SLACK', configured: true }, pagerduty: null }]);
      } finally {
        await svc.stop();
      }
      const bad = join(dir, 'bad.yaml');
      writeFileSync(bad, 'alerts:\n  routes:\n    - name: privacy\n      on: [incident.clock-72h]\n      slack: { webhookUrlEnv: FINDGUARD_ALERT_SLACK }\n');
      await expect(startTestService('sqlite', { alerts: bad }, { alerts: { secrets: {} } })).rejects.toThrow(`FINDGUARD_ALERTS: ${bad}: /routes/0/on/0`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('free text loses what looks like an email address or a phone number; ids, times and counts stay', () => {
    expect(scrub('Reported by jane.doe@example.org and +44 20 7946 0958, or 020 7946 0958')).toBe('Reported by [redacted] and [redacted], or [redacted]');
    expect(scrub('+1 (555) 123-4567')).toBe('[redacted]');
    const kept = 'campaign cmp_0192837465ab01f3 at 2026-11-01T12:00:00.000Z: 1234 accounts, AS64500';
    expect(scrub(kept)).toBe(kept);
  });

  it('a route whose secret is not set stops start-up, naming the variable', async () => {
    const policy = compilePolicy({ ...base(), alerts: { routes: [{ name: 'x', on: ['campaign.opened'], pagerduty: { routingKeyEnv: 'FINDGUARD_ALERT_PD_MISSING' } }] } }, 'p.yaml');
    await expect(startTestService('sqlite', {}, { policy, alerts: { secrets: {} } })).rejects.toThrow(/^FINDGUARD_ALERT_PD_MISSING: is not set, and the policy's alerts section names it/);
  });
});
