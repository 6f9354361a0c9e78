import { afterAll, beforeAll, expect, it } from 'vitest';
import { mirrorAccount } from '../helpers/fixtures.js';
import { addOperator, OPERATOR_OVERRIDES, signIn, type SignedIn } from '../helpers/operators.js';
import { describeEachDialect, startTestService, T0, type TestService } from '../helpers/service.js';

/**
 * Review: the free-text schemas (util/text.ts TextLine/TextBlock) refuse control characters but
 * let a lone UTF-16 surrogate through ("\ud800" in JSON). Every admin change is audited in the same
 * transaction, and the audit hash canonicalizes the entry (db/audit-hash.ts auditEntryHash ->
 * canonicalize), which throws "Lone surrogate is not allowed": the admin API answers 500 internal
 * instead of a coded 400 (every `reason` of a decision or operator change, on both databases). The
 * transaction rolls back, so nothing is written; the fix is to refuse unpaired surrogates in
 * TextLine/TextBlock (or check `isWellFormed()`), answering 400 invalid_request.
 */
describeEachDialect('review: a lone surrogate in audited free text', (dialect) => {
  let svc: TestService;
  let admin: SignedIn;
  let campaignId: string;
  beforeAll(async () => {
    svc = await startTestService(dialect, {}, OPERATOR_OVERRIDES);
    const op = await addOperator(svc, 'sur-admin', 'admin');
    admin = await signIn(svc, op);
    await mirrorAccount(svc, 'acc-s', [], { createdAt: new Date(T0 - 400 * 86_400_000).toISOString(), phoneRegion: 'US' });
    campaignId = (await svc.ctx.incidents.campaigns.openCampaign({ clusterId: 'cl-s', accountIds: ['acc-s'], score: 0.9, evidence: { why: 'test' } })).campaignId;
  }, 60_000);
  afterAll(async () => svc?.stop());

  const send = (method: 'POST', url: string, json: string) =>
    svc.app.inject({ method, url, headers: { ...admin.headers, 'content-type': 'application/json' }, payload: json });

  it('is a coded 400 that writes nothing', async () => {
    const db = svc.ctx.db.kysely;
    const other = await addOperator(svc, 'sur-viewer', 'viewer');
    const answers: string[] = [];
    const probe = async (label: string, url: string, json: string) => {
      const res = await send('POST', url, json);
      answers.push(`${label} ${res.statusCode} ${res.json().error?.code ?? 'ok'}`);
    };
    await probe('add decision', '/admin/v1/decisions', '{"scope":"ip","subject":"203.0.113.7","action":"throttle","reason":"ticket \\ud800"}');
    await probe('bulk decisions', '/admin/v1/decisions/bulk', '{"items":[{"scope":"ip","subject":"203.0.113.8","action":"throttle"}],"reason":"ticket \\udc00"}');
    const made = await send('POST', '/admin/v1/decisions', '{"scope":"ip","subject":"203.0.113.9","action":"throttle","reason":"ok"}');
    await probe('lift decision', `/admin/v1/decisions/${made.json().id as string}/lift`, '{"reason":"done \\ud800"}');
    await probe('disable operator', `/admin/v1/operators/${other.id}/disable`, '{"reason":"left \\ud800"}');
    await probe('set role', `/admin/v1/operators/${other.id}/role`, '{"role":"analyst","reason":"promo \\ud800"}');
    // Nothing of the refused changes was written.
    const rows = await db.selectFrom('decisions').select(['subject', 'lifted_at']).execute();
    expect(rows.map((r) => r.subject).sort()).toEqual(['203.0.113.9']);
    expect(rows[0]!.lifted_at).toBeNull();
    const op = await db.selectFrom('operators').select(['status', 'role']).where('name', '=', 'sur-viewer').executeTakeFirst();
    expect(op).toEqual({ status: 'active', role: 'viewer' });
    expect(answers).toEqual(answers.map((a) => a.replace(/ \d+ \S+$/, ' 400 invalid_request')));
  });

  it('a sign-in naming a lone surrogate is refused like any wrong name, not a 500', async () => {
    const res = await svc.app.inject({ method: 'POST', url: '/admin/v1/session', headers: { 'content-type': 'application/json' }, payload: '{"name":"x\\ud800","password":"whatever-1234","totp":"123456"}' });
    expect([400, 401]).toContain(res.statusCode);
  });
});
