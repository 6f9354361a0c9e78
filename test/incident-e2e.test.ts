import { afterAll, beforeAll, expect, it } from 'vitest';
import { replayDemoAttack, type DemoAttackRecord } from '../src/cli/demo-attack.js';
import { ensureDemoPopulation } from '../src/cli/seeding.js';
import { verifyWebhookSignature, type ExposureNotice, type WebhookEnvelope } from '../src/incidents/index.js';
import { addOperator, OPERATOR_OVERRIDES, signIn, type SignedIn } from './helpers/operators.js';
import { eventually } from './helpers/processes.js';
import { Receiver } from './helpers/receiver.js';
import { describeEachDialect, SERVICE_KEY, startTestService, type TestService } from './helpers/service.js';

/**
 * Issue 17's proof, end to end on both databases: the demo's 2019-style attack (24 fake accounts on
 * three phones sweeping number blocks in step, through the real discovery API) is contained by the
 * default policy's engine, which opens a campaign with its exposures; through the admin API an analyst
 * opens an incident for it and submits the report, two different operators approve it, and the
 * incident is notified; the
 * node's own deliverer sends one `exposure.notice` per exposed account to the app's endpoint, each
 * verified with the webhook secret; and `GET /v1/me/exposures` gives each exposed account its own
 * notice and nobody else any.
 */

const SECRET = 'e2e-webhook-secret-0123456789abcdef';
const DAY = 86_400_000;

describeEachDialect('incident response end to end', (dialect) => {
  let svc: TestService;
  const receiver = new Receiver();
  let attack: DemoAttackRecord;
  let campaignIds: string[];
  let exposed: string[];
  let incidentId: string;

  beforeAll(async () => {
    await receiver.start();
    svc = await startTestService(dialect, { policy: 'default', webhookUrl: `http://127.0.0.1:${receiver.port}/findguard`, webhookSecret: SECRET }, OPERATOR_OVERRIDES);
    // As `serve --demo` does: the population five weeks back, then the attack replayed up to now.
    const now = svc.clock.now();
    svc.clock.set(now - 35 * DAY);
    const { record } = await ensureDemoPopulation(svc.ctx, 600);
    attack = await replayDemoAttack({ app: svc.app, ctx: svc.ctx, clock: svc.clock, serviceKey: SERVICE_KEY, jwt: svc.secrets.jwt }, record, now);
    svc.clock.set(now);
  }, 600_000);
  afterAll(async () => {
    await svc?.stop();
    await receiver.stop();
  });

  it('the attack is contained: every fake account suspended, one campaign with its exposures', async () => {
    expect(attack.stopped).toBe(attack.accounts);
    expect(attack.revealed).toBeGreaterThan(0);
    const campaigns = await svc.ctx.incidents.campaigns.list();
    expect(campaigns.length).toBeGreaterThanOrEqual(1);
    campaignIds = campaigns.map((c) => c.id);
    const rows = await svc.ctx.db.kysely.selectFrom('exposures').select('revealed_account_id').distinct().where('campaign_id', 'in', campaigns.map((c) => c.id)).execute();
    exposed = rows.map((r) => r.revealed_account_id).sort();
    expect(exposed.length).toBeGreaterThan(0);
    // Every campaign is the fleet's.
    const members = await svc.ctx.db.kysely.selectFrom('campaign_accounts').select('account_id').where('campaign_id', 'in', campaignIds).execute();
    expect(members.every((m) => m.account_id.startsWith('demo-scraper-'))).toBe(true);
    const fleet = await svc.ctx.db.kysely.selectFrom('accounts').select(['id', 'fg_status']).where('id', 'like', 'demo-scraper-%').execute();
    expect(fleet.every((a) => a.fg_status === 'suspended')).toBe(true);
  }, 60_000);

  it('an incident opens, two different operators approve its report, and it is notified (admin API)', async () => {
    // Three operators, each signed in to the console: the author, and two approvers.
    const author = await signIn(svc, await addOperator(svc, 'e2e-analyst', 'analyst'));
    const approver1 = await signIn(svc, await addOperator(svc, 'e2e-approver-1', 'analyst'));
    const approver2 = await signIn(svc, await addOperator(svc, 'e2e-approver-2', 'admin'));
    const post = (s: SignedIn, url: string, payload?: Record<string, unknown>) =>
      svc.app.inject({ method: 'POST', url: `/admin/v1${url}`, headers: s.headers, ...(payload ? { payload } : {}) });
    const opened = await post(author, '/incidents', { title: 'Phone-number enumeration by a network of fake accounts', campaignIds });
    expect(opened.statusCode, opened.body).toBe(201);
    incidentId = opened.json().incident.id;
    expect(opened.json().incident.status).toBe('draft');
    expect((await post(author, `/incidents/${incidentId}/submit`)).json().incident.status).toBe('in_review');
    // The two-person rule: one approval is not enough, the same operator cannot approve twice, and
    // notifying before approval is refused (nothing is sent).
    expect((await post(approver1, `/incidents/${incidentId}/approve`)).json().incident.status).toBe('in_review');
    const twice = await post(approver1, `/incidents/${incidentId}/approve`);
    expect([twice.statusCode, twice.json().error.code]).toEqual([409, 'already_approved']);
    expect((await post(author, `/incidents/${incidentId}/notify`)).statusCode).toBe(409);
    expect((await svc.ctx.incidents.notices.deliveries(incidentId)).counts.total).toBe(0);
    expect((await post(approver2, `/incidents/${incidentId}/approve`)).json().incident.status).toBe('approved');
    const notified = await post(author, `/incidents/${incidentId}/notify`);
    expect(notified.statusCode, notified.body).toBe(200);
    expect(notified.json().incident.status).toBe('notified');
    const page = await svc.ctx.incidents.notices.deliveries(incidentId, { limit: 500 });
    expect(page.counts.total).toBe(exposed.length);
    expect(page.items.map((i) => i.accountId).sort()).toEqual(exposed);
    // Notifying again is refused by the lifecycle, and the notifier itself would send nothing twice.
    expect((await post(author, `/incidents/${incidentId}/notify`)).statusCode).toBe(409);
    expect(await svc.ctx.incidents.notices.notifyIncident(incidentId, campaignIds, new Date(svc.clock.now()))).toMatchObject({ notices: exposed.length, created: 0 });
  }, 120_000);

  it('each exposed account\'s notice reaches the app as a signed exposure.notice webhook, delivered once', async () => {
    const notices = () => receiver.received.filter((r) => (JSON.parse(r.body) as WebhookEnvelope).type === 'exposure.notice');
    await eventually('every notice delivered', () => notices().length >= exposed.length, 100_000, 50);
    await eventually('every status delivered', async () => (await svc.ctx.incidents.notices.deliveries(incidentId)).counts.delivered === exposed.length, 100_000, 50);
    const got = notices();
    expect(got).toHaveLength(exposed.length);
    const byAccount = new Map<string, ExposureNotice>();
    for (const r of got) {
      expect(verifyWebhookSignature(SECRET, r.headers['findguard-signature'] as string, r.body, svc.clock.now())).toBe(true);
      const envelope = JSON.parse(r.body) as WebhookEnvelope<'exposure.notice'>;
      expect(r.headers['findguard-event-id']).toBe(envelope.id);
      expect(envelope.data.incidentId).toBe(incidentId);
      byAccount.set(envelope.data.accountId, envelope.data);
    }
    expect([...byAccount.keys()].sort()).toEqual(exposed);
    // Each carries its own counts: the attacker accounts that account was shown to.
    for (const [accountId, n] of byAccount) {
      const pairs = await svc.ctx.db.kysely.selectFrom('exposures').select('attacker_account_id').distinct().where('campaign_id', 'in', campaignIds).where('revealed_account_id', '=', accountId).execute();
      expect(n.exposure.attackerAccounts, accountId).toBe(pairs.length);
      expect(n.measures.attackerAccountsStopped, accountId).toBe(pairs.length);
      expect(JSON.stringify(n)).not.toMatch(/demo-scraper|\+\d{6,}/);
    }
    // What an operator sees of it.
    const viewer = await signIn(svc, await addOperator(svc, 'e2e-viewer', 'viewer'));
    const listed = await svc.app.inject({ method: 'GET', url: `/admin/v1/incidents/${incidentId}/notices?limit=500`, headers: viewer.headers });
    expect(listed.statusCode, listed.body).toBe(200);
    expect(listed.json().counts).toEqual({ queued: 0, delivered: exposed.length, failed: 0, expired: 0, covered: 0, total: exposed.length });
    expect(listed.json().items.map((i: { accountId: string }) => i.accountId).sort()).toEqual(exposed);
  }, 120_000);

  it('GET /v1/me/exposures returns each exposed account its own notice, and no other account any', async () => {
    const me = async (id: string) => svc.app.inject({ method: 'GET', url: '/v1/me/exposures', headers: { authorization: `Bearer ${await svc.tokenFor(id)}` } });
    const delivered = new Map(receiver.received.map((r) => JSON.parse(r.body) as WebhookEnvelope).filter((e) => e.type === 'exposure.notice').map((e) => [(e as WebhookEnvelope<'exposure.notice'>).data.accountId, e.data]));
    for (const id of exposed.slice(0, 25)) {
      const res = await me(id);
      expect(res.statusCode, id).toBe(200);
      expect(res.json()).toEqual({ notices: [delivered.get(id)] });
    }
    // Accounts of the population never exposed, and the attackers (suspended), get nothing.
    const others = await svc.ctx.db.kysely.selectFrom('accounts').select('id').where('id', 'not in', exposed).where('id', 'not like', 'demo-scraper-%').where('app_status', '=', 'active').orderBy('id').limit(10).execute();
    expect(others.length).toBeGreaterThan(0);
    for (const { id } of others) expect((await me(id)).body, id).toBe('{"notices":[]}');
    const attacker = await me('demo-scraper-01');
    expect([attacker.statusCode, attacker.json().error.code]).toEqual([403, 'account_suspended']);
  }, 120_000);
});
