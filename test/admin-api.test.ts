import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listAudit } from '../src/incidents/index.js';
import type { Role } from '../src/operators/roles.js';
import { lookup, mirrorAccount, NUMBERS } from './helpers/fixtures.js';
import { addOperator, OPERATOR_OVERRIDES, signIn, type SignedIn, type TestOperator } from './helpers/operators.js';
import { describeEachDialect, startTestService, T0, type TestService } from './helpers/service.js';

/**
 * The admin API (/admin/v1, src/http/admin) through HTTP on both databases: every console route
 * against every role, signed out, without CSRF and with a revoked session (table-driven), and the
 * flows the console is for: decisions added, listed, lifted, bulk and undone as one, an operator's
 * block on an ASN refusing a lookup from it on this serving node, the campaign page, graph and CSV,
 * reinstatement, redelivery, the what-if over recorded events, each change audited.
 */

const HOUR = 3_600_000;
const ROLES: Role[] = ['viewer', 'analyst', 'admin'];
const RANK: Record<Role, number> = { viewer: 0, analyst: 1, admin: 2 };

interface Endpoint {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH';
  url: string;
  min: Role;
  body?: Record<string, unknown>;
}

describeEachDialect('admin API', (dialect) => {
  let svc: TestService;
  const ops = {} as Record<Role, TestOperator>;
  const sessions = {} as Record<Role, SignedIn>;
  let campaignId: string;
  let apiToken: string;
  /** An address with a known ASN and country in the bundled IP data. */
  const ADDR = '81.2.69.160';

  beforeAll(async () => {
    svc = await startTestService(dialect, {}, OPERATOR_OVERRIDES);
    for (const role of ROLES) {
      ops[role] = await addOperator(svc, `op-${role}`, role);
      sessions[role] = await signIn(svc, ops[role]);
    }
    apiToken = (await svc.ctx.operators.createToken('cli', ops.analyst.id, 'script')).token;
    const created = new Date(T0 - 400 * 24 * HOUR).toISOString();
    await mirrorAccount(svc, 'victim', [{ value: NUMBERS.usA, purposes: ['discovery'] }], { createdAt: created, phoneRegion: 'US' });
    for (const id of ['scraper-1', 'scraper-2', 'organic']) await mirrorAccount(svc, id, [], { createdAt: created, phoneRegion: 'US', signup: { ip: '198.51.100.20', deviceId: 'farm-phone' } });
    // Two scrapers reveal the victim, then the engine's campaign is opened over their events.
    for (const id of ['scraper-1', 'scraper-2']) {
      const res = await lookup(svc, await svc.tokenFor(id), { phone: NUMBERS.usA }, { 'x-device-id': 'farm-phone' });
      expect(res.statusCode).toBe(200);
    }
    await svc.ctx.events.flush();
    const opened = await svc.ctx.incidents.campaigns.openCampaign({ clusterId: 'cluster-1', accountIds: ['scraper-1', 'scraper-2'], score: 0.9, evidence: { why: 'test' } });
    campaignId = opened.campaignId;
    await svc.ctx.incidents.enforcer.suspend(['scraper-1'], { actor: 'engine', reason: 'scan', evidence: {}, clusterId: 'cluster-1', campaignId });
  });
  afterAll(async () => svc?.stop());

  const as = (s: SignedIn | undefined, e: Endpoint, csrf = true) =>
    svc.app.inject({ method: e.method, url: `/admin/v1${e.url}`, headers: s ? (csrf ? s.headers : { cookie: s.cookie }) : {}, ...(e.body ? { payload: e.body } : {}) });

  const endpoints = (): Endpoint[] => [
    { method: 'GET', url: '/overview?window=day', min: 'viewer' },
    { method: 'GET', url: '/campaigns', min: 'viewer' },
    { method: 'GET', url: `/campaigns/${campaignId}`, min: 'viewer' },
    { method: 'GET', url: `/campaigns/${campaignId}/graph`, min: 'viewer' },
    { method: 'GET', url: `/campaigns/${campaignId}/exposures.csv`, min: 'viewer' },
    { method: 'GET', url: '/accounts/organic', min: 'viewer' },
    { method: 'POST', url: '/accounts/search', min: 'viewer', body: { handle: 'h_organic' } },
    { method: 'POST', url: '/accounts/organic/reinstate', min: 'analyst', body: { reason: 'matrix' } },
    { method: 'GET', url: '/decisions?active=true', min: 'viewer' },
    { method: 'POST', url: '/decisions', min: 'analyst', body: { scope: 'country', subject: 'AQ', action: 'throttle', reason: 'matrix', durationSeconds: 60, shadow: true } },
    { method: 'POST', url: '/decisions/bulk', min: 'analyst', body: { items: [{ scope: 'ip', subject: '192.0.2.1', action: 'challenge', shadow: true }], reason: 'matrix' } },
    { method: 'POST', url: '/decisions/dec_none/lift', min: 'analyst', body: { reason: 'matrix' } },
    { method: 'POST', url: '/batches/bat_none/undo', min: 'analyst', body: { reason: 'matrix' } },
    { method: 'GET', url: '/policy', min: 'viewer' },
    { method: 'POST', url: '/policy/what-if', min: 'admin', body: { policy: 'signal-like', from: T0 - HOUR, to: T0 + HOUR } },
    { method: 'GET', url: '/webhooks/deliveries', min: 'viewer' },
    { method: 'POST', url: '/webhooks/deliveries/whk_none/redeliver', min: 'admin' },
    { method: 'GET', url: '/audit', min: 'viewer' },
    { method: 'GET', url: '/alerts', min: 'viewer' },
    { method: 'POST', url: '/alerts/routes/none/test', min: 'admin' },
    { method: 'GET', url: '/incidents/inc_none/notices', min: 'viewer' },
    { method: 'GET', url: '/incidents', min: 'viewer' },
    { method: 'GET', url: '/incidents/signing-key', min: 'viewer' },
    { method: 'GET', url: '/incidents/inc_none', min: 'viewer' },
    { method: 'GET', url: '/incidents/inc_none/report', min: 'viewer' },
    { method: 'GET', url: '/incidents/inc_none/export.json', min: 'viewer' },
    { method: 'GET', url: '/incidents/inc_none/export.html', min: 'viewer' },
    { method: 'GET', url: '/incidents/inc_none/exposures.csv', min: 'viewer' },
    { method: 'GET', url: '/incidents/inc_none/evidence', min: 'viewer' },
    { method: 'POST', url: '/incidents', min: 'analyst', body: { title: 'matrix', campaignIds: ['cmp_none'] } },
    { method: 'PATCH', url: '/incidents/inc_none', min: 'analyst', body: { notes: 'matrix' } },
    { method: 'POST', url: '/incidents/inc_none/campaigns', min: 'analyst', body: { campaignIds: ['cmp_none'] } },
    { method: 'PUT', url: '/incidents/inc_none/phases/1', min: 'analyst', body: { nature: 'matrix' } },
    { method: 'POST', url: '/incidents/inc_none/submit', min: 'analyst' },
    { method: 'POST', url: '/incidents/inc_none/send-back', min: 'analyst', body: { reason: 'matrix' } },
    { method: 'POST', url: '/incidents/inc_none/approve', min: 'analyst' },
    { method: 'POST', url: '/incidents/inc_none/supplements', min: 'analyst', body: {} },
    { method: 'POST', url: '/incidents/inc_none/notify', min: 'analyst' },
    { method: 'POST', url: '/incidents/inc_none/close', min: 'analyst', body: { reason: 'matrix' } },
  ];

  describe('authorization matrix', () => {
    it('each role x each endpoint: allowed at or above its role, 403 forbidden_role below', async () => {
      for (const e of endpoints()) {
        for (const role of ROLES) {
          const res = await as(sessions[role], e);
          const allowed = RANK[role] >= RANK[e.min];
          if (allowed) expect([401, 403], `${role} ${e.method} ${e.url}: ${res.body}`).not.toContain(res.statusCode);
          else expect([res.statusCode, res.json().error.code], `${role} ${e.method} ${e.url}`).toEqual([403, 'forbidden_role']);
          if (allowed) expect(res.statusCode, `${role} ${e.method} ${e.url}: ${res.body}`).toBeLessThan(500);
        }
      }
    });

    it('signed out: 401 not_signed_in everywhere', async () => {
      for (const e of endpoints()) {
        const res = await as(undefined, e);
        expect([res.statusCode, res.json().error.code], `${e.method} ${e.url}`).toEqual([401, 'not_signed_in']);
      }
    });

    it('signed out or below the role, a body that fails validation is still 401/403: the schema is told only to whom it may be', async () => {
      for (const e of endpoints().filter((x) => x.method !== 'GET')) {
        const bad = { ...e, body: { unexpected: 'x'.repeat(10) } };
        const res = await as(undefined, bad);
        expect([res.statusCode, res.json().error.code], `${e.method} ${e.url}`).toEqual([401, 'not_signed_in']);
        if (e.min === 'viewer') continue;
        const below = await as(sessions.viewer, bad);
        expect([below.statusCode, below.json().error.code], `${e.method} ${e.url}`).toEqual([403, 'forbidden_role']);
      }
    });

    it('a state change from a cookie session without its CSRF token: 403 csrf_invalid, even for an admin', async () => {
      for (const e of endpoints().filter((x) => x.method !== 'GET')) {
        const res = await as(sessions.admin, e, false);
        expect([res.statusCode, res.json().error.code], `${e.method} ${e.url}`).toEqual([403, 'csrf_invalid']);
      }
    });

    it('a revoked session: 401 everywhere', async () => {
      const s = await signIn(svc, ops.admin);
      const out = await svc.app.inject({ method: 'DELETE', url: '/admin/v1/session', headers: s.headers });
      expect(out.statusCode).toBe(204);
      for (const e of endpoints()) {
        const res = await as(s, e);
        expect([res.statusCode, res.json().error.code], `${e.method} ${e.url}`).toEqual([401, 'not_signed_in']);
      }
    });
  });

  describe('flows', () => {
    const api = (method: 'GET' | 'POST', url: string, body?: Record<string, unknown>, s: SignedIn = sessions.analyst) =>
      svc.app.inject({ method, url: `/admin/v1${url}`, headers: s.headers, ...(body ? { payload: body } : {}) });

    it('an operator block on an ASN refuses lookups from it on this node; lifted, they are answered again; both audited', async () => {
      const info = svc.ctx.ipIntel.lookup(ADDR);
      expect(info.asn).toBeDefined();
      const token = await svc.tokenFor('organic');
      const before = await lookup(svc, token, { phone: NUMBERS.gbA }, { 'x-forwarded-for': ADDR });
      // Direct connection: the address is the socket's.
      const call = () => svc.app.inject({ method: 'POST', url: '/v1/discovery/lookup', remoteAddress: ADDR, headers: { authorization: `Bearer ${token}` }, payload: { phone: NUMBERS.gbA } });
      expect((await call()).statusCode).toBe(200);
      expect(before.statusCode).toBe(200);

      const added = await svc.app.inject({ method: 'POST', url: '/admin/v1/decisions', headers: { authorization: `Bearer ${apiToken}` }, payload: { scope: 'asn', subject: `AS${info.asn}`, action: 'suspend', reason: 'scraping from this network', durationSeconds: 4 * 3600 } });
      expect(added.statusCode).toBe(201);
      const d = added.json();
      expect(d).toMatchObject({ scope: 'asn', subject: String(info.asn), action: 'suspend', source: 'operator', actor: ops.analyst.name, status: 'active', expiresAt: svc.clock.now() + 4 * HOUR });
      const refused = await call();
      expect(refused.statusCode).toBe(429);
      expect(refused.json().error.details).toMatchObject({ scope: 'asn' });
      const [entry] = await listAudit(svc.ctx.db.kysely, { subject: `decision:${d.id}`, limit: 1 });
      expect(entry).toMatchObject({ action: 'decision.add', tool: 'api', actor: { name: ops.analyst.name, role: 'analyst', via: 'token' } });

      const listed = await api('GET', '/decisions?scope=asn&active=true');
      expect(listed.json().items.map((x: { id: string }) => x.id)).toContain(d.id);
      const lifted = await api('POST', `/decisions/${d.id}/lift`, { reason: 'false alarm' });
      expect(lifted.statusCode).toBe(200);
      expect(lifted.json()).toMatchObject({ status: 'lifted', liftReason: 'false alarm' });
      expect((await call()).statusCode).toBe(200);
      const [liftEntry] = await listAudit(svc.ctx.db.kysely, { subject: `decision:${d.id}`, limit: 1 });
      expect(liftEntry).toMatchObject({ action: 'decision.lift', tool: 'console', reason: 'false alarm' });
    });

    it('a bulk action under one batch id, undone as one', async () => {
      const bulk = await api('POST', '/decisions/bulk', {
        reason: 'campaign infrastructure',
        items: [
          { scope: 'device', subject: 'farm-phone', action: 'throttle', durationSeconds: 3600 },
          { scope: 'subnet', subject: '198.51.100.0/24', action: 'challenge' },
          { scope: 'account', subject: 'scraper-2', action: 'challenge', durationSeconds: 600 },
        ],
      });
      expect(bulk.statusCode).toBe(201);
      const { batchId, decisions } = bulk.json();
      expect(decisions).toHaveLength(3);
      expect((await api('GET', `/decisions?batchId=${batchId}&active=true`)).json().items).toHaveLength(3);
      const undo = await api('POST', `/batches/${batchId}/undo`, { reason: 'wrong cluster' });
      expect(undo.json()).toEqual({ batchId, lifted: 3 });
      expect((await api('GET', `/decisions?batchId=${batchId}&active=true`)).json().items).toHaveLength(0);
      const audit = await api('GET', `/audit?subject=${encodeURIComponent(`batch:${batchId}`)}`);
      expect(audit.json().items.map((e: { action: string }) => e.action)).toEqual(['batch.undo', 'decision.bulk']);
      const bad = await api('POST', '/decisions', { scope: 'ip', subject: 'nope', action: 'throttle', reason: 'x' });
      expect([bad.statusCode, bad.json().error.code]).toEqual([400, 'invalid_request']);
    });

    it('pages every list with ?limit= from a script: a query string is text, read as a number; out of range or not a number is 400', async () => {
      for (const list of ['/audit', '/campaigns', '/decisions', '/webhooks/deliveries', '/incidents', '/alerts']) {
        const page = await api('GET', `${list}?limit=1`);
        expect([list, page.statusCode]).toEqual([list, 200]);
        const body = page.json();
        expect((body.items ?? body.recent).length).toBeLessThanOrEqual(1);
        for (const bad of ['0', 'abc', '1.5', '100000']) {
          const res = await api('GET', `${list}?limit=${bad}`);
          expect([list, bad, res.statusCode, res.json().error.code]).toEqual([list, bad, 400, 'invalid_request']);
        }
      }
      expect((await api('GET', '/audit?limit=2')).json().items).toHaveLength(2);
    });

    it('the campaign: page, graph laid out and cached per version, exposures as CSV', async () => {
      const page = await api('GET', `/campaigns/${campaignId}`);
      expect(page.statusCode).toBe(200);
      expect(page.json()).toMatchObject({ id: campaignId, status: 'open', accounts: 2, accountStatus: { suspended: 1, active: 1, erased: 0 } });
      expect(page.json().timeline.some((t: { event: string; count: number }) => t.event === 'suspend')).toBe(true);
      const g1 = (await api('GET', `/campaigns/${campaignId}/graph`)).json();
      const ids = g1.nodes.map((n: { id: string }) => n.id);
      expect(ids).toEqual(expect.arrayContaining(['a:scraper-1', 'a:scraper-2', 'h:device:farm-phone']));
      expect(g1.edges.filter((e: { kind: string }) => e.kind === 'device')).toHaveLength(2);
      expect(g1.nodes.every((n: { x: number; y: number }) => Number.isFinite(n.x) && Number.isFinite(n.y))).toBe(true);
      const g2 = (await api('GET', `/campaigns/${campaignId}/graph`)).json();
      expect(g2).toEqual(g1);
      const csv = await api('GET', `/campaigns/${campaignId}/exposures.csv`);
      expect(csv.headers['content-type']).toMatch(/^text\/csv/);
      const lines = csv.body.trim().split('\r\n');
      expect(lines[0]).toBe('campaign_id,attacker_account_id,exposed_account_id,first_exposed_at');
      expect(lines.slice(1).map((l) => l.split(',').slice(1, 3).join(' ')).sort()).toEqual(['scraper-1 victim', 'scraper-2 victim']);
      expect(csv.body).not.toContain(NUMBERS.usA.slice(1));
      expect((await api('GET', '/campaigns/cmp_nothing')).statusCode).toBe(404);
    });

    it('accounts by id or handle; reinstating needs a reason and is audited', async () => {
      const acc = await api('GET', '/accounts/scraper-1');
      expect(acc.json()).toMatchObject({ account: { id: 'scraper-1', findguardStatus: 'suspended' }, risk: { level: 'suspended', campaignScore: 0.9 } });
      const byHandle = await api('POST', '/accounts/search', { handle: 'h_scraper1' });
      expect(byHandle.json().account.id).toBe('scraper-1');
      expect((await api('POST', '/accounts/search', { handle: 'nobody' })).statusCode).toBe(404);
      expect((await api('POST', '/accounts/scraper-1/reinstate', {})).statusCode).toBe(400);
      const r = await api('POST', '/accounts/scraper-1/reinstate', { reason: 'a researcher, verified by support' });
      expect(r.json()).toMatchObject({ reinstated: true });
      const audit = (await api('GET', `/audit?subject=${encodeURIComponent('account:scraper-1')}`)).json().items;
      expect(audit[0]).toMatchObject({ action: 'account.reinstate', reason: 'a researcher, verified by support', tool: 'console', actor: { name: ops.analyst.name } });
    });

    it('webhook deliveries: listed, a given-up one redelivered by an admin, a pending one not', async () => {
      const list = (await api('GET', '/webhooks/deliveries')).json();
      expect(list.items.length).toBeGreaterThan(0);
      const [first] = list.items;
      const pending = await api('POST', `/webhooks/deliveries/${first.id}/redeliver`, undefined, sessions.admin);
      expect([pending.statusCode, pending.json().error.code]).toEqual([409, 'conflict']);
      await svc.ctx.db.kysely.updateTable('webhook_outbox').set({ next_attempt_at: null, attempts: 8, last_error: 'HTTP 500' }).where('id', '=', first.id).execute();
      expect((await api('GET', '/webhooks/deliveries?state=failed')).json().items.map((d: { id: string }) => d.id)).toContain(first.id);
      const again = await api('POST', `/webhooks/deliveries/${first.id}/redeliver`, undefined, sessions.admin);
      expect(again.json()).toMatchObject({ id: first.id, state: 'pending', attempts: 0 });
    });

    it('the overview counts calls and refusals by scope from the recorded events', async () => {
      const o = (await api('GET', '/overview?window=hour')).json();
      const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
      expect(sum(o.series.calls)).toBeGreaterThanOrEqual(5);
      expect(sum(o.series.refusalsByScope.asn ?? [])).toBe(1);
      expect(o.openCampaigns).toBe(1);
      expect(o.series.t).toHaveLength(60);
    });

    it('the what-if replays a stricter candidate over the recorded events without touching live limits', async () => {
      const strict = [
        'name: strict',
        'tiers: [{ name: all }]',
        'layers:',
        '  - { id: one-number, subject: account, cost: new, limits: { all: { burst: 1, refill: 0, per: 1d } } }',
      ].join('\n');
      const res = await api('POST', '/policy/what-if', { policy: strict, from: T0 - HOUR, to: svc.clock.now() + 1 }, sessions.admin);
      expect(res.statusCode).toBe(200);
      const w = res.json();
      expect(w.events).toBeGreaterThanOrEqual(5);
      // organic asked three numbers (one refused live by the block): the candidate refuses its later ones.
      expect(w.wouldRefuseByScope.account).toBeGreaterThanOrEqual(1);
      expect(w.organicTouched).toBeGreaterThanOrEqual(1);
      expect(w.campaignAccounts).toBe(2);
      const bad = await api('POST', '/policy/what-if', { policy: 'name: [', from: T0, to: T0 + 1 }, sessions.admin);
      expect([bad.statusCode, bad.json().error.code]).toEqual([400, 'invalid_request']);
      // A name that is no built-in policy's is told so, with the names there are.
      const unknown = await api('POST', '/policy/what-if', { policy: 'standard', from: T0, to: T0 + 1 }, sessions.admin);
      expect([unknown.statusCode, unknown.json().error.code]).toEqual([400, 'invalid_request']);
      expect(unknown.json().error.message).toMatch(/no built-in policy is named "standard" \(built-in: .*default.*\)/);
      // The live limits are untouched: organic still gets answers.
      const live = await lookup(svc, await svc.tokenFor('organic'), { phone: NUMBERS.deA });
      expect(live.statusCode).toBe(200);
    });
  });
});
