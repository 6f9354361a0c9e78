import canonicalize from 'canonicalize';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { compilePolicy, DEFAULT_POLICY } from '../src/policy/index.js';
import { IncidentLifecycle, listAudit, openIncidentClocks, verifySignedReport, type IncidentActor } from '../src/incidents/index.js';
import { lookup, mirrorAccount, NUMBERS } from './helpers/fixtures.js';
import { addOperator, OPERATOR_OVERRIDES, type TestOperator } from './helpers/operators.js';
import { describeEachDialect, startTestService, T0, type TestService } from './helpers/service.js';

/**
 * Incidents through the admin API on both databases (src/incidents/incident-lifecycle.ts,
 * src/http/admin/incidents.ts): the lifecycle from draft to closed with the 72-hour clock on the
 * injected clock, illegal moves refused with a code, the two-person rule, an approved phase
 * immutable and supplemented, the notifier's absence refused, the signed export verified with the
 * published key (and a tampered one not), the evidence hash, no phone number in any export, and the
 * engine's threshold opening one incident per campaign however often the campaign is recorded.
 */

const HOUR = 3_600_000;
interface Who {
  headers: { authorization: string };
}
const VICTIMS: Array<{ id: string; phone: string; region: string }> = [
  { id: 'victim-us', phone: NUMBERS.usA, region: 'US' },
  { id: 'victim-gb', phone: NUMBERS.gbA, region: 'GB' },
  { id: 'victim-de', phone: NUMBERS.deA, region: 'DE' },
];
// Every number any account here holds, in E.164 and as digits: none may appear in an export.
const FORBIDDEN = Object.values(NUMBERS).flatMap((n) => [n, n.slice(1)]);

describeEachDialect('incidents', (dialect) => {
  let svc: TestService;
  let campaignId: string;
  const ops = {} as Record<'alice' | 'bob' | 'carol' | 'viewer', TestOperator>;
  // Operator API tokens, not sessions: the clock moves days here, past any session's life.
  const s = {} as Record<keyof typeof ops, Who>;

  beforeAll(async () => {
    // The engine's threshold comes from the policy file, as in production.
    const policy = compilePolicy({ ...DEFAULT_POLICY, name: 'incidents-test', incidents: { openAtExposedAccounts: 4 } });
    svc = await startTestService(dialect, { dpoContact: 'DPO, Example Ltd, dpo@example.test' }, { ...OPERATOR_OVERRIDES, policy });
    ops.alice = await addOperator(svc, 'alice', 'analyst');
    ops.bob = await addOperator(svc, 'bob', 'analyst');
    ops.carol = await addOperator(svc, 'carol', 'admin');
    ops.viewer = await addOperator(svc, 'vera', 'viewer');
    for (const k of Object.keys(ops) as Array<keyof typeof ops>) s[k] = { headers: { authorization: `Bearer ${(await svc.ctx.operators.createToken('cli', ops[k].id, 'test')).token}` } };
    const created = new Date(T0 - 400 * 24 * HOUR).toISOString();
    for (const v of VICTIMS) await mirrorAccount(svc, v.id, [{ value: v.phone, purposes: ['discovery'] }], { createdAt: created, phoneRegion: v.region });
    for (const id of ['scraper-1', 'scraper-2', 'scraper-3']) await mirrorAccount(svc, id, [], { createdAt: created, phoneRegion: 'US', signup: { ip: '198.51.100.20', deviceId: 'farm-phone' } });
    // Exposed by scraper-3 only: the engine's campaign (all three) passes the threshold of 4, the operators' (scraper-1 and -2) do not.
    await mirrorAccount(svc, 'victim-fr', [{ value: NUMBERS.frA, purposes: ['discovery'] }], { createdAt: created, phoneRegion: 'FR' });
    expect((await lookup(svc, await svc.tokenFor('scraper-3'), { phone: NUMBERS.frA }, { 'x-device-id': 'farm-phone' })).statusCode).toBe(200);
    for (const [i, v] of VICTIMS.entries()) {
      const scraper = i === 0 ? 'scraper-2' : 'scraper-1';
      const res = await lookup(svc, await svc.tokenFor(scraper), { phone: v.phone }, { 'x-device-id': 'farm-phone' });
      expect(res.statusCode).toBe(200);
    }
    await svc.ctx.events.flush();
    campaignId = (await svc.ctx.incidents.campaigns.openCampaign({ clusterId: 'cluster-1', accountIds: ['scraper-1', 'scraper-2', 'scraper-3'], score: 0.9, evidence: { why: 'test' } })).campaignId;
    await svc.ctx.incidents.enforcer.suspend(['scraper-1'], { actor: 'engine', reason: 'scan', evidence: {}, clusterId: 'cluster-1', campaignId });
  }, 120_000);
  afterAll(async () => svc?.stop());

  const api = (method: 'GET' | 'POST' | 'PUT' | 'PATCH', url: string, who: Who, body?: unknown) =>
    svc.app.inject({ method, url: `/admin/v1${url}`, headers: who.headers, ...(body !== undefined ? { payload: body as Record<string, unknown> } : {}) });
  const codeOf = (res: { statusCode: number; json(): unknown }) => [res.statusCode, (res.json() as { error?: { code: string } }).error?.code];
  // A campaign belongs to one incident at most: each incident here gets a campaign of its own, of the same two scrapers.
  let clusters = 0;
  const freshCampaign = async () => (await svc.ctx.incidents.campaigns.openCampaign({ clusterId: `cluster-op-${++clusters}`, accountIds: ['scraper-1', 'scraper-2'], score: 0.9, evidence: { why: 'test' } })).campaignId;
  const open = async (title: string) => {
    const res = await api('POST', '/incidents', s.alice, { title, campaignIds: [await freshCampaign()], awareAt: svc.clock.now() - HOUR });
    expect(res.statusCode, res.body).toBe(201);
    return res.json().incident.id as string;
  };

  it('the engine opened one incident for the campaign once it exposed 4 accounts, however often the campaign is recorded', async () => {
    await Promise.all([1, 2].map(() => svc.ctx.incidents.campaigns.openCampaign({ clusterId: 'cluster-1', accountIds: ['scraper-1', 'scraper-2', 'scraper-3'], score: 0.95, evidence: { why: 'again' } })));
    const list = (await api('GET', '/incidents', s.viewer)).json().items as Array<{ id: string; source: string; campaignIds: string[]; status: string }>;
    const engine = list.filter((i) => i.source === 'engine');
    expect(engine).toHaveLength(1);
    expect(engine[0]).toMatchObject({ campaignIds: [campaignId], status: 'draft' });
    const audit = await listAudit(svc.ctx.db.kysely, { subject: `incident:${engine[0]!.id}`, limit: 10 });
    expect(audit.map((a) => [a.action, a.actor.name, a.tool])).toEqual([['incident.open', 'engine', 'engine']]);
  });

  it('lifecycle: draft -> in_review -> approved -> notified -> closed, with the 72-hour clock on the injected clock and every change audited', async () => {
    const id = await open('Scrape of the discovery API');
    let view = (await api('GET', `/incidents/${id}`, s.viewer)).json();
    expect(view.incident.status).toBe('draft');
    expect(view.clock.deadline).toBe(new Date(view.incident.awareAt + 72 * HOUR).toISOString());
    expect(view.clock.remainingMs).toBe(71 * HOUR);
    expect((await openIncidentClocks(svc.ctx.db.kysely)).map((c) => c.incidentId)).toContain(id);

    svc.clock.advance(50 * HOUR);
    view = (await api('GET', `/incidents/${id}`, s.viewer)).json();
    expect(view.clock).toMatchObject({ remainingMs: 21 * HOUR, overdue: false, stopped: false });

    const edited = await api('PUT', `/incidents/${id}/phases/1`, s.alice, { consequences: 'Targeted phishing of the exposed accounts.', art34: { applies: true, reason: 'Handles tie numbers to people.' } });
    expect(edited.statusCode, edited.body).toBe(200);
    expect((await api('POST', `/incidents/${id}/submit`, s.alice)).json().incident.status).toBe('in_review');
    // The author's approval counts, but alone it approves nothing; the same operator twice is refused.
    let res = await api('POST', `/incidents/${id}/approve`, s.alice);
    expect(res.json().incident.status).toBe('in_review');
    expect(codeOf(await api('POST', `/incidents/${id}/approve`, s.alice))).toEqual([409, 'already_approved']);
    res = await api('POST', `/incidents/${id}/approve`, s.bob);
    view = res.json();
    expect(view.incident.status).toBe('approved');
    expect(view.phases[0].status).toBe('approved');
    expect(view.phases[0].approvals.map((a: { operatorName: string }) => a.operatorName).sort()).toEqual(['alice', 'bob']);
    expect(view.phases[0].facts.subjects).toEqual({ total: 3, byCountry: [{ country: 'DE', accounts: 1 }, { country: 'GB', accounts: 1 }, { country: 'US', accounts: 1 }] });
    expect(view.clock.stopped).toBe(true);
    expect((await openIncidentClocks(svc.ctx.db.kysely)).map((c) => c.incidentId)).toContain(id);

    // An approved phase is never edited, only supplemented.
    expect(codeOf(await api('PUT', `/incidents/${id}/phases/1`, s.alice, { consequences: 'changed' }))).toEqual([409, 'phase_locked']);
    res = await api('POST', `/incidents/${id}/supplements`, s.alice, { supplement: 'One more account found.' });
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json().phases.map((p: { number: number; status: string }) => [p.number, p.status])).toEqual([[1, 'approved'], [2, 'draft']]);
    expect((await api('PUT', `/incidents/${id}/phases/2`, s.bob, { measuresPlanned: 'Lower budgets.' })).statusCode).toBe(200);
    expect((await api('PUT', `/incidents/${id}/phases/1`, s.bob, { measuresPlanned: 'x' })).statusCode).toBe(409);

    res = await api('POST', `/incidents/${id}/notify`, s.carol);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().incident).toMatchObject({ status: 'notified', notices: 3 });
    expect((await openIncidentClocks(svc.ctx.db.kysely)).map((c) => c.incidentId)).not.toContain(id);
    // The open supplement keeps it from closing until it is approved.
    expect(codeOf(await api('POST', `/incidents/${id}/close`, s.alice, { reason: 'done' }))).toEqual([409, 'illegal_transition']);
    await api('POST', `/incidents/${id}/submit`, s.bob);
    await api('POST', `/incidents/${id}/approve`, s.alice);
    // alice opened the supplement and bob wrote it: a third operator's approval is needed.
    expect((await api('GET', `/incidents/${id}`, s.viewer)).json().phases[1].status).toBe('in_review');
    await api('POST', `/incidents/${id}/approve`, s.carol);
    expect((await api('GET', `/incidents/${id}`, s.viewer)).json().phases[1].status).toBe('approved');
    res = await api('POST', `/incidents/${id}/close`, s.alice, { reason: 'done' });
    expect(res.json().incident.status).toBe('closed');

    const actions = (await listAudit(svc.ctx.db.kysely, { subject: `incident:${id}`, limit: 50 })).map((a) => a.action).reverse();
    expect(actions).toEqual([
      'incident.open',
      'incident.phase_edit',
      'incident.submit',
      'incident.approve',
      'incident.approve',
      'incident.supplement',
      'incident.phase_edit',
      'incident.notify',
      'incident.submit',
      'incident.approve',
      'incident.approve',
      'incident.close',
    ]);
  });

  it('illegal moves answer 409 illegal_transition and change nothing; bad input 400; a viewer changes nothing', async () => {
    const id = await open('Illegal moves');
    for (const [path, body] of [['approve'], ['notify'], ['close', { reason: 'x' }], ['send-back', { reason: 'x' }]] as Array<[string, unknown?]>) {
      expect(codeOf(await api('POST', `/incidents/${id}/${path}`, s.carol, body)), path).toEqual([409, 'illegal_transition']);
    }
    expect(codeOf(await api('POST', `/incidents/${id}/supplements`, s.alice, {}))).toEqual([409, 'illegal_transition']);
    await api('POST', `/incidents/${id}/submit`, s.alice);
    expect(codeOf(await api('POST', `/incidents/${id}/submit`, s.alice))).toEqual([409, 'illegal_transition']);
    expect(codeOf(await api('PUT', `/incidents/${id}/phases/1`, s.alice, { nature: 'x' }))).toEqual([409, 'illegal_transition']);
    expect((await api('GET', `/incidents/${id}`, s.viewer)).json().incident.status).toBe('in_review');
    expect(codeOf(await api('POST', '/incidents', s.alice, { title: 'x', campaignIds: ['cmp_nope'] }))).toEqual([400, 'invalid_request']);
    expect(codeOf(await api('POST', '/incidents', s.alice, { title: 'x', campaignIds: [campaignId], awareAt: svc.clock.now() + HOUR }))).toEqual([400, 'invalid_request']);
    expect(codeOf(await api('POST', '/incidents', s.alice, { title: 'x', campaignIds: [campaignId], extra: 1 }))).toEqual([400, 'invalid_request']);
    // A campaign belongs to one incident: a second one (here beside the engine's) would notify its exposed people twice.
    const engineId = ((await api('GET', '/incidents', s.viewer)).json().items as Array<{ id: string; source: string }>).find((i) => i.source === 'engine')!.id;
    const again = await api('POST', '/incidents', s.alice, { title: 'x', campaignIds: [campaignId] });
    expect(codeOf(again)).toEqual([409, 'conflict']);
    expect(again.json().error.details).toEqual({ reason: 'campaign_has_incident', incidentId: engineId, campaignIds: [campaignId] });
    const draft = await open('Links another incident\'s campaign');
    const linked = await api('POST', `/incidents/${draft}/campaigns`, s.alice, { campaignIds: [campaignId] });
    expect(codeOf(linked)).toEqual([409, 'conflict']);
    expect(linked.json().error.details).toMatchObject({ incidentId: engineId });
    expect(codeOf(await api('POST', `/incidents/${id}/approve`, s.viewer))).toEqual([403, 'forbidden_role']);
    expect(codeOf(await api('GET', '/incidents/inc_none', s.viewer))).toEqual([404, 'not_found']);
  });

  it('details and campaigns change while allowed, each audited with before and after; awareAt is fixed once approved', async () => {
    const id = await open('Details');
    const own = ((await api('GET', `/incidents/${id}`, s.viewer)).json().incident.campaignIds as string[])[0]!;
    const aware = svc.clock.now() - 3 * HOUR;
    let res = await api('PATCH', `/incidents/${id}`, s.bob, { owner: 'bob', notes: 'call the DPO', awareAt: aware });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().incident).toMatchObject({ owner: 'bob', notes: 'call the DPO', awareAt: aware });
    expect(res.json().clock.remainingMs).toBe(69 * HOUR);
    const second = (await svc.ctx.incidents.campaigns.openCampaign({ clusterId: 'cluster-2', accountIds: ['scraper-2'], score: 0.5, evidence: {} })).campaignId;
    res = await api('POST', `/incidents/${id}/campaigns`, s.bob, { campaignIds: [second] });
    expect(res.json().incident.campaignIds).toEqual([own, second].sort());
    const audit = await listAudit(svc.ctx.db.kysely, { subject: `incident:${id}`, limit: 10 });
    expect(audit[1]).toMatchObject({ action: 'incident.update', before: { owner: null }, after: { owner: 'bob', notes: 'call the DPO' } });
    expect(audit[0]).toMatchObject({ action: 'incident.link_campaigns', after: { campaignIds: [own, second].sort() } });
    await api('POST', `/incidents/${id}/submit`, s.alice);
    await api('POST', `/incidents/${id}/approve`, s.bob);
    await api('POST', `/incidents/${id}/approve`, s.carol);
    expect(codeOf(await api('PATCH', `/incidents/${id}`, s.bob, { awareAt: aware - HOUR }))).toEqual([409, 'illegal_transition']);
    expect(codeOf(await api('POST', `/incidents/${id}/campaigns`, s.bob, { campaignIds: [second] }))).toEqual([409, 'illegal_transition']);
    expect((await api('PATCH', `/incidents/${id}`, s.bob, { notes: 'filed' })).json().incident.notes).toBe('filed');
  });

  it('lists every incident a page at a time, latest awareness first, through nextCursor', async () => {
    // Same awareness for some: the id breaks the tie, so no incident is skipped or shown twice.
    for (const t of ['Page A', 'Page B', 'Page C']) await open(t);
    const all = (await api('GET', '/incidents?limit=500', s.viewer)).json() as { items: Array<{ id: string }>; nextCursor: string | null };
    expect(all.nextCursor).toBeNull();
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res = await api('GET', `/incidents?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, s.viewer);
      expect(res.statusCode, res.body).toBe(200);
      const page = res.json() as { items: Array<{ id: string }>; nextCursor: string | null };
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items.map((i) => i.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual(all.items.map((i) => i.id));
    expect(seen.length).toBeGreaterThanOrEqual(3);
    expect(codeOf(await api('GET', '/incidents?cursor=bm90LWEtY3Vyc29y', s.viewer))).toEqual([400, 'invalid_request']);
  });

  it("an owner is a person's or a team's name, never an email address or a phone number (create and change alike)", async () => {
    const id = await open('Owner');
    for (const owner of ['bob@example.org', '+1 415 555 0188', 'T&S (Dana, +44 7911 123456)']) {
      expect(codeOf(await api('PATCH', `/incidents/${id}`, s.bob, { owner }))).toEqual([400, 'invalid_request']);
      expect(codeOf(await api('POST', '/incidents', s.bob, { title: 'Owned', owner }))).toEqual([400, 'invalid_request']);
    }
    const stored = await svc.ctx.db.kysely.selectFrom('incidents').select('owner').where('owner', 'is not', null).execute();
    expect(stored.map((r) => r.owner).filter((o) => o !== null && (o.includes('@') || o.replace(/\D/g, '').length >= 7))).toEqual([]);
    const ok = await api('PATCH', `/incidents/${id}`, s.bob, { owner: 'Trust & Safety, EMEA' });
    expect(ok.json().incident.owner).toBe('Trust & Safety, EMEA');
  });

  it('two-person rule: two authors approving do not approve their own report; a third operator who wrote none of it does', async () => {
    const id = await open('Two authors');
    await api('PUT', `/incidents/${id}/phases/1`, s.bob, { categories: 'App users with a discoverable number.' });
    await api('POST', `/incidents/${id}/submit`, s.bob);
    await api('POST', `/incidents/${id}/approve`, s.alice);
    const both = await api('POST', `/incidents/${id}/approve`, s.bob);
    expect(both.json().incident.status).toBe('in_review');
    expect(both.json().phases[0].approvals).toHaveLength(2);
    const third = await api('POST', `/incidents/${id}/approve`, s.carol);
    expect(third.json().incident.status).toBe('approved');
    // Two operators approving at the same moment take turns on the incident's row: both count.
    const racing = await open('Approved at once');
    await api('POST', `/incidents/${racing}/submit`, s.alice);
    const answers = await Promise.all([api('POST', `/incidents/${racing}/approve`, s.bob), api('POST', `/incidents/${racing}/approve`, s.carol)]);
    expect(answers.map((r) => r.statusCode)).toEqual([200, 200]);
    const raced = (await api('GET', `/incidents/${racing}`, s.viewer)).json();
    expect(raced.incident.status).toBe('approved');
    expect(raced.phases[0].approvals).toHaveLength(2);
    // Sent back, a phase loses its approvals.
    const other = await open('Sent back');
    await api('POST', `/incidents/${other}/submit`, s.alice);
    await api('POST', `/incidents/${other}/approve`, s.bob);
    const back = await api('POST', `/incidents/${other}/send-back`, s.carol, { reason: 'numbers look off' });
    expect(back.json()).toMatchObject({ incident: { status: 'draft' }, phases: [{ status: 'draft', approvals: [] }] });
  });

  it('without a notifier, approved -> notified is refused with 409 notifier_unavailable', async () => {
    const id = await open('No notifier');
    await api('POST', `/incidents/${id}/submit`, s.alice);
    await api('POST', `/incidents/${id}/approve`, s.bob);
    await api('POST', `/incidents/${id}/approve`, s.carol);
    const bare = new IncidentLifecycle({ db: svc.ctx.db.kysely, clock: svc.clock, random: svc.ctx.random });
    const by: IncidentActor = { actor: { id: ops.carol.id, name: 'carol', role: 'admin', via: 'cli' }, from: null, tool: 'cli' };
    await expect(bare.notify(id, by)).rejects.toMatchObject({ code: 'notifier_unavailable', status: 409 });
    expect((await bare.get(id)).status).toBe('approved');
  });

  it('the signed export verifies with the published key, a tampered one does not; the evidence hashes as stated; no phone number in any export', async () => {
    const id = await open('Exports');
    await api('PUT', `/incidents/${id}/phases/1`, s.alice, { nature: 'Enumeration <script>alert(1)</script>' });
    await api('POST', `/incidents/${id}/submit`, s.alice);
    await api('POST', `/incidents/${id}/approve`, s.bob);
    await api('POST', `/incidents/${id}/approve`, s.carol);

    const key = (await api('GET', '/incidents/signing-key', s.viewer)).json();
    expect(key).toMatchObject({ alg: 'Ed25519', jwk: { kty: 'OKP', crv: 'Ed25519' } });
    const exported = await api('GET', `/incidents/${id}/export.json`, s.viewer);
    expect(exported.statusCode).toBe(200);
    const signed = JSON.parse(exported.body);
    expect(verifySignedReport(signed, key.jwk)).toBe(true);
    expect(verifySignedReport(signed, key.pem)).toBe(true);
    const tampered = structuredClone(signed);
    tampered.report.phases[0].facts.subjects.total = 2;
    expect(verifySignedReport(tampered, key.jwk)).toBe(false);
    const otherKey = structuredClone(signed);
    otherKey.report.controller.dpoContact = 'someone else';
    expect(verifySignedReport(otherKey, key.jwk)).toBe(false);

    const report = signed.report;
    expect(report.controller.dpoContact).toBe('DPO, Example Ltd, dpo@example.test');
    expect(report.phases[0]).toMatchObject({ status: 'approved', factsAsOf: 'approved' });
    expect(report.phases[0].facts.records.total).toBe(3);
    expect(report.phases[0].facts.dataRevealed).toContain('handle');
    const scraper1 = report.phases[0].facts.attackers.find((a: { accountId: string }) => a.accountId === 'scraper-1');
    expect(scraper1).toMatchObject({ revealed: 2, stoppedAt: expect.any(String) });
    expect(report.phases[0].facts.measuresTaken.length).toBeGreaterThan(0);
    expect(report.phases[0].facts.measuresTaken[0]).toMatchObject({ decisionId: expect.any(String), at: expect.any(String) });

    const evidence = await api('GET', `/incidents/${id}/evidence`, s.viewer);
    const hash = createHash('sha256').update(canonicalize(evidence.json()) ?? '').digest('hex');
    expect(hash).toBe(report.evidence.sha256);
    expect(hash).toBe(report.phases[0].facts.evidenceSha256);
    expect(evidence.json().exposures).toHaveLength(3);

    const html = await api('GET', `/incidents/${id}/export.html`, s.viewer);
    expect(html.headers['content-security-policy']).toMatch(/default-src 'none'/);
    expect(html.body).toContain('&lt;script&gt;');
    expect(html.body).not.toContain('<script');
    const csv = await api('GET', `/incidents/${id}/exposures.csv`, s.viewer);
    expect(csv.body.split('\r\n')[0]).toBe('account_id,handle,phone_country,first_exposed_at,last_exposed_at,attacker_accounts,campaign_ids');
    expect(csv.body).toContain('victim-gb,h_victimgb,GB,');
    for (const body of [exported.body, evidence.body, html.body, csv.body, (await api('GET', `/incidents/${id}/report`, s.viewer)).body]) {
      for (const n of FORBIDDEN) expect(body).not.toContain(n);
    }
  });
});
