import { afterAll, beforeAll, expect, it } from 'vitest';
import { listAudit } from '../../src/incidents/index.js';
import { mirrorAccount } from '../helpers/fixtures.js';
import { addOperator, OPERATOR_OVERRIDES, signIn, type SignedIn } from '../helpers/operators.js';
import { describeEachDialect, startTestService, type TestService } from '../helpers/service.js';

/**
 * Review: reinstating an account (POST /admin/v1/accounts/{id}/reinstate) lifts every decision
 * standing on the account (incidents/decisions.ts liftDecisions: scope account, subject = id),
 * not only what findguard's suspension caused: an operator's own challenge or throttle, added by
 * hand with its reason, is lifted too. The audit entry of the reinstatement lists only the
 * enforcement actions it reversed (`details.reverses`), so the trail of `decision:<id>` shows the
 * operator's decision added and never lifted, while the decision reads lifted and no node
 * enforces it any more: an enforcement change with no audit record of its own.
 */
describeEachDialect('review: a reinstatement lifting an operator decision is audited', (dialect) => {
  let svc: TestService;
  let alice: SignedIn;
  let bob: SignedIn;

  beforeAll(async () => {
    svc = await startTestService(dialect, { policy: 'none' }, OPERATOR_OVERRIDES);
    alice = await signIn(svc, await addOperator(svc, 'rl-alice', 'analyst'));
    bob = await signIn(svc, await addOperator(svc, 'rl-bob', 'analyst'));
    await mirrorAccount(svc, 'rl-acct', []);
  }, 60_000);
  afterAll(async () => svc?.stop());

  it("the operator decision's lift is on record", async () => {
    // Alice challenges the account by hand for a week, for her own reason.
    const added = await svc.app.inject({
      method: 'POST',
      url: '/admin/v1/decisions',
      headers: alice.headers,
      payload: { scope: 'account', subject: 'rl-acct', action: 'challenge', durationSeconds: 7 * 86_400, reason: 'reported by trust & safety, ticket 4411' },
    });
    expect(added.statusCode, added.body).toBe(201);
    const decisionId = added.json<{ id: string }>().id;

    // The engine suspends it; Bob judges the suspension wrong and reinstates.
    await svc.ctx.incidents.enforcer.suspend(['rl-acct'], { actor: 'engine', reason: 'enumeration', evidence: { detector: 'test' } });
    const reinstated = await svc.app.inject({ method: 'POST', url: '/admin/v1/accounts/rl-acct/reinstate', headers: bob.headers, payload: { reason: 'organic user' } });
    expect(reinstated.statusCode, reinstated.body).toBe(200);

    const row = await svc.ctx.db.kysely.selectFrom('decisions').select(['lifted_at', 'lifted_by']).where('id', '=', decisionId).executeTakeFirstOrThrow();
    if (row.lifted_at === null) return; // left standing: nothing unaudited happened
    // Lifted: the audit trail must say so, under the decision or in the reinstatement's entry.
    const entries = await listAudit(svc.ctx.db.kysely, { limit: 100 });
    const mentions = entries.filter((e) => e.action !== 'decision.add' && JSON.stringify(e).includes(decisionId));
    expect(mentions.map((e) => e.action), `lifted by ${row.lifted_by}; audit: ${entries.map((e) => `${e.action} ${e.subject}`).join(' | ')}`).not.toEqual([]);
  });
});
