import { afterAll, beforeAll, expect, it } from 'vitest';
import { verifyWebhookSignature, type ExposureNotice, type WebhookEnvelope } from '../src/incidents/index.js';
import { OWN_EXPOSURES_LIMITS } from '../src/incidents/notices-own.js';
import { addOperator, OPERATOR_OVERRIDES, signIn, type SignedIn } from './helpers/operators.js';
import { lookup, mirrorAccount, NUMBERS } from './helpers/fixtures.js';
import { eventually } from './helpers/processes.js';
import { Receiver, type Received } from './helpers/receiver.js';
import { describeEachDialect, startTestService, T0, type TestService } from './helpers/service.js';

/**
 * Exposure notices (issue 17 point 3) through the real stores and HTTP, on both databases: one
 * notice per exposed account with its own counts, nothing twice when notified again, each sent
 * through the outbox by the node's own deliverer to a local receiver and verified with the
 * webhook secret, delivery status per notice in the admin API, `GET /v1/me/exposures` answering
 * the caller alone in one shape, erasure with the account, and no phone number or email anywhere.
 */

const SECRET = 'notices-webhook-secret-0123456789abcdef';
const DAY = 24 * 3_600_000;
const EMAIL = 'victim.a@example.org';
const MAIL_FOUND = 'found.by.mail@example.org';
const MAX_ATTEMPTS = 2;

/** The exposure notices among what the app's endpoint received. */
function noticesAt(receiver: Receiver): Array<{ envelope: WebhookEnvelope<'exposure.notice'>; raw: Received }> {
  return receiver.received.flatMap((r) => {
    const envelope = JSON.parse(r.body) as WebhookEnvelope;
    return envelope.type === 'exposure.notice' ? [{ envelope: envelope as WebhookEnvelope<'exposure.notice'>, raw: r }] : [];
  });
}

const until = (what: string, check: () => boolean | Promise<boolean>) => eventually(what, check, 20_000);

describeEachDialect('exposure notices', (dialect) => {
  let svc: TestService;
  let admin: SignedIn;
  const receiver = new Receiver();
  let campaignId: string;
  let start: number;
  const INCIDENT = 'inc_notices_test';

  const me = async (accountId: string, query = '') =>
    svc.app.inject({ method: 'GET', url: `/v1/me/exposures${query}`, headers: { authorization: `Bearer ${await svc.tokenFor(accountId)}` } });

  beforeAll(async () => {
    await receiver.start();
    svc = await startTestService(dialect, { policy: 'none', webhookUrl: `http://127.0.0.1:${receiver.port}/hooks`, webhookSecret: SECRET }, { ...OPERATOR_OVERRIDES, incidents: { delivery: { maxAttempts: MAX_ATTEMPTS } } });
    const created = new Date(T0 - 400 * DAY).toISOString();
    await mirrorAccount(svc, 'victim-a', [{ value: NUMBERS.usA, purposes: ['discovery'] }, { kind: 'email', value: EMAIL, purposes: ['recovery'] }], { createdAt: created });
    await mirrorAccount(svc, 'victim-b', [{ value: NUMBERS.gbA, purposes: ['discovery'] }], { createdAt: created });
    await mirrorAccount(svc, 'victim-c', [{ value: NUMBERS.deA, purposes: ['discovery'] }], { createdAt: created });
    await mirrorAccount(svc, 'bystander', [{ value: NUMBERS.frA, purposes: ['discovery'] }], { createdAt: created });
    for (const id of ['scraper-1', 'scraper-2']) await mirrorAccount(svc, id, [], { createdAt: created });
    start = svc.clock.now();
    // scraper-1 finds a, b and c; scraper-2 finds a, later and again an hour on.
    const t1 = await svc.tokenFor('scraper-1');
    for (const phone of [NUMBERS.usA, NUMBERS.gbA, NUMBERS.deA]) expect((await lookup(svc, t1, { phone })).statusCode).toBe(200);
    svc.clock.advance(3_600_000);
    expect((await lookup(svc, await svc.tokenFor('scraper-2'), { phone: NUMBERS.usA })).statusCode).toBe(200);
    svc.clock.advance(3_600_000);
    expect((await lookup(svc, await svc.tokenFor('scraper-2'), { phone: NUMBERS.usA })).statusCode).toBe(200);
    await svc.ctx.events.flush();
    campaignId = (await svc.ctx.incidents.campaigns.openCampaign({ clusterId: 'cl-notices', accountIds: ['scraper-1', 'scraper-2'], score: 0.9, evidence: {} })).campaignId;
    await svc.ctx.incidents.enforcer.suspend(['scraper-1'], { actor: 'engine', reason: 'scan', evidence: {}, clusterId: 'cl-notices', campaignId });
    // victim-c is erased before the incident is notified: nobody is left to tell.
    expect((await svc.app.inject({ method: 'DELETE', url: '/internal/v1/accounts/victim-c', headers: svc.internal })).statusCode).toBeLessThan(300);
    await until('the campaign webhooks', () => receiver.received.length >= 3);
    admin = await signIn(svc, await addOperator(svc, 'notice-admin', 'admin'));
  }, 120_000);
  afterAll(async () => {
    await svc?.stop();
    await receiver.stop();
  });

  it('writes one notice per exposed account still in the directory, with its own counts and times', async () => {
    const at = new Date(svc.clock.now());
    const r = await svc.ctx.incidents.notices.notifyIncident(INCIDENT, [campaignId], at);
    expect(r).toEqual({ notices: 2, created: 2 });
    const a = (await svc.ctx.incidents.notices.forAccount('victim-a'))[0]!;
    expect(a).toMatchObject({
      incidentId: INCIDENT,
      accountId: 'victim-a',
      createdAt: at.toISOString(),
      expiresAt: new Date(at.getTime() + 365 * DAY).toISOString(),
      exposure: { firstAt: new Date(start).toISOString(), lastAt: new Date(start + 2 * 3_600_000).toISOString(), attackerAccounts: 2 },
      measures: { attackerAccountsStopped: 1, actions: [{ action: 'suspend', accounts: 1 }] },
      advice: { discoverableBy: 'everyone' },
    });
    expect(a.advice.steps.map((s) => s.code)).toEqual(['discoverability_setting', 'my_contacts', 'unexpected_messages']);
    expect(a.measures.text).toMatch(/^1 of those 2 accounts have been suspended/);
    const b = (await svc.ctx.incidents.notices.forAccount('victim-b'))[0]!;
    expect(b.exposure).toMatchObject({ attackerAccounts: 1, firstAt: new Date(start).toISOString(), lastAt: new Date(start).toISOString() });
    expect(b.measures).toMatchObject({ attackerAccountsStopped: 1 });
    expect(b.measures.text).toMatch(/^Every one of those accounts has been suspended/);
    // Never a handle or id of the attacker accounts.
    for (const n of [a, b]) expect(JSON.stringify(n)).not.toMatch(/scraper/);
    expect(await svc.ctx.incidents.notices.forAccount('bystander')).toEqual([]);
  });

  it('notifying again writes and sends nothing more', async () => {
    const again = await svc.ctx.incidents.notices.notifyIncident(INCIDENT, [campaignId, campaignId], new Date(svc.clock.now() + 1000));
    expect(again).toEqual({ notices: 2, created: 0 });
    const rows = await svc.ctx.db.kysely.selectFrom('webhook_outbox').select('id').where('event_type', '=', 'exposure.notice').execute();
    expect(rows).toHaveLength(2);
  });

  it('delivers each notice as a signed exposure.notice webhook that verifies with the secret; status per notice', async () => {
    const ours = () => noticesAt(receiver).filter((n) => n.envelope.data.incidentId === INCIDENT);
    await until('two notices delivered', () => ours().length >= 2);
    const got = ours();
    expect(got.map((g) => g.envelope.data.accountId).sort()).toEqual(['victim-a', 'victim-b']);
    for (const { envelope, raw } of got) {
      expect(verifyWebhookSignature(SECRET, raw.headers['findguard-signature'] as string, raw.body, svc.clock.now())).toBe(true);
      expect(verifyWebhookSignature('another-secret-0123456789abcdef', raw.headers['findguard-signature'] as string, raw.body, svc.clock.now())).toBe(false);
      expect(raw.headers['findguard-event-id']).toBe(envelope.id);
      const [stored] = await svc.ctx.incidents.notices.forAccount(envelope.data.accountId);
      expect(envelope.data).toEqual(stored);
    }
    await until('statuses delivered', async () => (await svc.ctx.incidents.notices.deliveries(INCIDENT)).counts.delivered === 2);
    const page = await svc.ctx.incidents.notices.deliveries(INCIDENT);
    expect(page.counts).toEqual({ queued: 0, delivered: 2, failed: 0, expired: 0, covered: 0, total: 2 });
    expect(page.items.every((i) => i.status === 'delivered' && i.attempts === 1 && i.eventId !== null)).toBe(true);
  });

  it('the admin API lists an incident\'s notices with counts by status, page by page', async () => {
    const get = (q: string) => svc.app.inject({ method: 'GET', url: `/admin/v1/incidents/${INCIDENT}/notices${q}`, headers: admin.headers });
    const first = await get('?limit=1');
    expect(first.statusCode, first.body).toBe(200);
    const body = first.json();
    expect(body.counts).toEqual({ queued: 0, delivered: 2, failed: 0, expired: 0, covered: 0, total: 2 });
    expect(body.items).toHaveLength(1);
    const second = (await get(`?limit=1&cursor=${body.nextCursor}`)).json();
    expect(second.items).toHaveLength(1);
    expect(second.nextCursor).toBeNull();
    expect([body.items[0].accountId, second.items[0].accountId].sort()).toEqual(['victim-a', 'victim-b']);
    expect((await get('?status=failed')).json().items).toEqual([]);
    expect((await get('?phone=1')).statusCode).toBe(400);
  });

  it('GET /v1/me/exposures answers the caller\'s own notices and nobody else\'s', async () => {
    const a = await me('victim-a');
    expect(a.statusCode).toBe(200);
    expect(a.headers['cache-control']).toBe('no-store');
    const notices = a.json<{ notices: ExposureNotice[] }>().notices;
    expect(notices.map((n) => n.accountId)).toEqual(['victim-a']);
    expect(notices[0]).toEqual((await svc.ctx.incidents.notices.forAccount('victim-a'))[0]);
    expect((await me('victim-b')).json().notices.map((n: ExposureNotice) => n.accountId)).toEqual(['victim-b']);
    expect((await me('bystander')).json()).toEqual({ notices: [] });
    // Nothing in the request can name another account.
    for (const q of ['?accountId=victim-a', '?phone=%2B14155552671', '?handle=h_victima']) {
      const res = await me('bystander', q);
      expect([res.statusCode, res.json().error.code]).toEqual([400, 'invalid_request']);
    }
    expect((await svc.app.inject({ method: 'GET', url: '/v1/me/exposures' })).statusCode).toBe(401);
    expect((await me('nobody-here')).statusCode).toBe(401);
    // A suspended caller gets what discovery answers it.
    const suspended = await me('scraper-1');
    expect([suspended.statusCode, suspended.json().error.code]).toEqual([403, 'account_suspended']);
  });

  it('an account never exposed and one whose notice expired get the same bytes and headers', async () => {
    await mirrorAccount(svc, 'never-exposed', [{ value: NUMBERS.inA, purposes: ['discovery'] }]);
    const saved = svc.clock.now();
    svc.clock.advance(366 * DAY);
    try {
      const expired = await me('victim-b');
      const never = await me('never-exposed');
      expect(expired.statusCode).toBe(200);
      expect(expired.body).toBe('{"notices":[]}');
      expect(never.body).toBe(expired.body);
      const strip = (h: Record<string, unknown>) => Object.fromEntries(Object.entries(h).filter(([k]) => k !== 'date'));
      expect(strip(never.headers)).toEqual(strip(expired.headers));
      // The events' retention job empties them, with no later incident notifying.
      const content = async () => (await svc.ctx.db.kysely.selectFrom('exposure_notices').select('content').where('account_id', '=', 'victim-b').execute()).map((r) => r.content);
      expect((await content()).every((c) => c !== 'null')).toBe(true);
      await svc.ctx.eventRetention!.run();
      expect(await content()).toEqual(['null']);
      expect(await svc.ctx.incidents.notices.purgeExpired()).toBe(0);
    } finally {
      svc.clock.set(saved);
    }
  });

  it('is budgeted per account: past its burst, 429 rate_limited with Retry-After', async () => {
    await mirrorAccount(svc, 'poller', []);
    let last = await me('poller');
    for (let i = 1; i <= OWN_EXPOSURES_LIMITS.account.burst && last.statusCode === 200; i++) last = await me('poller');
    expect(last.statusCode).toBe(429);
    expect(last.json().error).toMatchObject({ code: 'rate_limited', details: { scope: 'account' } });
    expect(Number(last.headers['retry-after'])).toBeGreaterThan(0);
    // Another account is not affected.
    expect((await me('never-exposed')).statusCode).toBe(200);
  });

  it('a notice is erased with its account, and notifying again does not bring it back', async () => {
    await svc.ctx.incidents.notices.notifyIncident('inc_erasure', [campaignId], new Date(svc.clock.now()));
    expect(await svc.ctx.db.kysely.selectFrom('exposure_notices').select('id').where('account_id', '=', 'victim-a').where('incident_id', '=', 'inc_erasure').execute()).toHaveLength(1);
    expect((await svc.app.inject({ method: 'DELETE', url: '/internal/v1/accounts/victim-a', headers: svc.internal })).statusCode).toBeLessThan(300);
    expect(await svc.ctx.db.kysely.selectFrom('exposure_notices').select('id').where('account_id', '=', 'victim-a').execute()).toEqual([]);
    const again = await svc.ctx.incidents.notices.notifyIncident('inc_erasure', [campaignId], new Date(svc.clock.now()));
    expect(again).toEqual({ notices: 1, created: 0 });
  });

  // victim-a is erased by now: the incident has victim-b's notice alone.
  it('a notice the app does not accept is queued while retried, failed once given up, and delivered when redelivered', async () => {
    const incident = 'inc_failing';
    const statuses = async () => (await svc.ctx.incidents.notices.deliveries(incident)).items.map((i) => i.status);
    const deliverer = svc.ctx.incidents.deliverer!;
    // Nothing else in flight, so the scripted failures meet this notice.
    const pending = () => svc.ctx.db.kysely.selectFrom('webhook_outbox').select('id').where('delivered_at', 'is', null).where('next_attempt_at', 'is not', null).execute();
    await until('the outbox drained', async () => (await pending()).length === 0);
    const before = receiver.received.length;
    receiver.scripts.set('/hooks', [500, 503]);
    await svc.ctx.incidents.notices.notifyIncident(incident, [campaignId], new Date(svc.clock.now()));
    await until('the first attempt', () => receiver.received.length >= before + 1);
    await until('first failures recorded', async () => (await svc.ctx.incidents.notices.deliveries(incident)).items.every((i) => i.lastError !== null));
    expect(await statuses()).toEqual(['queued']);
    // The service gives up after two attempts (MAX_ATTEMPTS below): the second failure is final.
    svc.clock.advance(3_600_000);
    deliverer.poke();
    await until('given up', async () => (await svc.ctx.incidents.notices.deliveries(incident)).counts.failed === 1);
    const page = await svc.ctx.incidents.notices.deliveries(incident);
    expect(page.counts).toEqual({ queued: 0, delivered: 0, failed: 1, expired: 0, covered: 0, total: 1 });
    expect(page.items.every((i) => i.attempts === MAX_ATTEMPTS && i.lastError === 'HTTP 503')).toBe(true);
    // An admin redelivers one from the webhook log: same event, now accepted.
    const admin2 = await signIn(svc, await addOperator(svc, 'notice-admin-2', 'admin'));
    const redo = await svc.app.inject({ method: 'POST', url: `/admin/v1/webhooks/deliveries/${page.items[0]!.eventId}/redeliver`, headers: admin2.headers });
    expect(redo.statusCode, redo.body).toBe(200);
    await until('redelivered', async () => (await svc.ctx.incidents.notices.deliveries(incident)).counts.delivered === 1);
    expect((await svc.ctx.incidents.notices.deliveries(incident)).counts).toEqual({ queued: 0, delivered: 1, failed: 0, expired: 0, covered: 0, total: 1 });
  });

  it('an account of one of the incident\'s campaigns gets no notice, even when another of them found it', async () => {
    await mirrorAccount(svc, 'lurker', [{ value: NUMBERS.brA, purposes: ['discovery'] }], { createdAt: new Date(T0 - 400 * DAY).toISOString() });
    expect((await lookup(svc, await svc.tokenFor('scraper-2'), { phone: NUMBERS.brA })).statusCode).toBe(200);
    await svc.ctx.events.flush();
    const other = (await svc.ctx.incidents.campaigns.openCampaign({ clusterId: 'cl-lurker', accountIds: ['lurker'], score: 0.8, evidence: {} })).campaignId;
    await svc.ctx.incidents.campaigns.openCampaign({ clusterId: 'cl-notices', accountIds: ['scraper-1', 'scraper-2'], score: 0.9, evidence: {} });
    const found = await svc.ctx.db.kysely.selectFrom('exposures').select('campaign_id').where('revealed_account_id', '=', 'lurker').execute();
    expect(found.map((f) => f.campaign_id)).toEqual([campaignId]);
    await svc.ctx.incidents.notices.notifyIncident('inc_members', [campaignId, other], new Date(svc.clock.now()));
    const page = await svc.ctx.incidents.notices.deliveries('inc_members');
    expect(page.items.map((i) => i.accountId)).toEqual(['victim-b']);
  });

  // Exposed by the first campaign and still here: victim-b, and lurker (not named as a campaign of this incident).
  it('notifiers running at once write each notice, and send its webhook, once', async () => {
    const at = new Date(svc.clock.now());
    const runs = await Promise.all([1, 2, 3].map(() => svc.ctx.incidents.notices.notifyIncident('inc_race', [campaignId], at)));
    expect(runs.reduce((n, r) => n + r.created, 0)).toBe(2);
    expect(runs.every((r) => r.notices === 2)).toBe(true);
    const events = (await svc.ctx.incidents.notices.deliveries('inc_race')).items.map((i) => i.eventId!);
    const rows = await svc.ctx.db.kysely.selectFrom('webhook_outbox').select('id').where('event_type', '=', 'exposure.notice').execute();
    expect(new Set(events).size).toBe(2);
    expect(rows.filter((r) => events.includes(r.id))).toHaveLength(2);
  });

  it('an account found by its email is told so, without the address', async () => {
    await mirrorAccount(svc, 'mailfound', [{ kind: 'email', value: MAIL_FOUND, purposes: ['discovery'] }], { createdAt: new Date(T0 - 400 * DAY).toISOString() });
    expect((await lookup(svc, await svc.tokenFor('scraper-2'), { email: MAIL_FOUND })).json().match).toMatchObject({ accountId: 'mailfound' });
    await svc.ctx.events.flush();
    await svc.ctx.incidents.campaigns.openCampaign({ clusterId: 'cl-notices', accountIds: ['scraper-1', 'scraper-2'], score: 0.9, evidence: {} });
    await svc.ctx.incidents.notices.notifyIncident('inc_email', [campaignId], new Date(svc.clock.now()));
    const [n] = await svc.ctx.incidents.notices.forAccount('mailfound');
    expect(n!.exposure.revealed).toEqual(['account_id', 'handle', 'registered_under_email']);
    expect(n!.what.text).toMatch(/Your email address was on such a list/);
    expect((await svc.ctx.incidents.notices.forAccount('victim-b'))[0]!.exposure.revealed).toContain('registered_under_phone_number');
  });

  it('no phone number or email in the notices, the webhook bodies or the logs', async () => {
    const values = [...Object.values(NUMBERS), EMAIL, MAIL_FOUND, ...Object.values(NUMBERS).map((n) => n.slice(1))];
    const stored = (await svc.ctx.db.kysely.selectFrom('exposure_notices').select('content').execute()).map((r) => r.content).join('\n');
    const outbox = (await svc.ctx.db.kysely.selectFrom('webhook_outbox').select('payload').where('event_type', '=', 'exposure.notice').execute()).map((r) => r.payload).join('\n');
    const bodies = receiver.received.map((r) => r.body).join('\n');
    for (const v of values) {
      expect(stored).not.toContain(v);
      expect(outbox).not.toContain(v);
      expect(bodies).not.toContain(v);
      expect(svc.logs.text).not.toContain(v);
    }
  });
});
