import { afterAll, beforeAll, expect, it } from 'vitest';
import type { ClusterEvidence } from '../../src/abuse/cluster/score.js';
import type { Decision } from '../../src/abuse/engine.js';
import { incidentsEnforcer } from '../../src/abuse/service.js';
import { lookup, mirrorAccount, NUMBERS } from '../helpers/fixtures.js';
import { describePostgres, startTestService, type TestService } from '../helpers/service.js';

/**
 * Review ("operator actions (lift/reinstate ...) take effect everywhere"): `findguard accounts
 * reinstate` (any process) lifts findguard's suspension, and "the running engine hears of it at its
 * next evaluation and leaves the account alone for 30 days" (README). It hears of it only there:
 * syncReinstatements runs at the start of an evaluation, and the decisions that evaluation makes
 * are recorded one after another afterwards, a cluster's suspension only after its campaign is
 * recorded (a scan of every member's stored events: seconds for a large cluster). A reinstatement
 * that commits in between is undone by the decision the engine made before it: the enforcer
 * (incidents/enforcer.ts suspend) sees no open suspension and records a new one, with its
 * `account.suspended` webhook right after the operator's `account.reinstated`. The next evaluation
 * then learns of the reinstatement and forgets its own action, but the account stays suspended:
 * the operator's decision did not take effect. With partitions there are more engines (each
 * partition's and the global stage's), each with such a window, on workers the operator never sees.
 *
 * Here the in-flight decision is handed to the enforcer the engine uses (incidentsEnforcer) as the
 * engine would after its evaluation at event time `decidedAt`, one second before the reinstatement.
 *
 * One way to close it: the enforcer refuses an engine action (suspend, throttle, challenge) on an
 * account reinstated after the decision was made (decision.at, already passed as decidedAt to
 * throttle/challenge) or within reinstateGrace, checked under the account's row lock in the
 * action's own transaction, where the reinstatement cannot slip between the check and the write.
 */
describePostgres('review: a reinstatement committed while an engine decision is in flight', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService('postgres', { policy: 'default' });
    await mirrorAccount(svc, 'alice', [{ value: NUMBERS.usA, purposes: ['discovery'] }]);
    await mirrorAccount(svc, 'bob', [{ value: NUMBERS.gbA, purposes: ['two_factor'] }]);
  });
  afterAll(async () => svc?.stop());

  const evidence = { clusterId: 'cl_review_reinstate', members: 1, detectors: ['enumeration'], samples: ['review'] } as unknown as ClusterEvidence;
  const decisionAt = (at: number): Decision => ({ action: 'suspend-account', accountIds: ['bob'], clusterId: evidence.clusterId, score: 0.95, evidence, reason: 'account bob: review', at, applied: false });

  it('the operator\'s reinstatement stands', async () => {
    const engine = incidentsEnforcer(svc.ctx.incidents, svc.clock);
    // The engine suspended bob; an operator looks and judges him organic.
    await engine.suspend(['bob'], 'account bob: review', evidence, decisionAt(svc.clock.now()));
    expect((await lookup(svc, await svc.tokenFor('bob'), { phone: NUMBERS.usA })).statusCode).toBe(403);

    // The engine's next evaluation began (and read the reinstatements) a second before the operator's...
    const decidedAt = svc.clock.now() + 60_000;
    svc.clock.set(decidedAt + 1000);
    const r = await svc.ctx.incidents.enforcer.reinstate('bob', { actor: 'rev-operator', reason: 'organic: a family reunion' });
    expect(r.reinstated).toBe(true);
    expect((await lookup(svc, await svc.tokenFor('bob'), { phone: NUMBERS.usA })).statusCode).toBe(200);
    svc.clock.advance(2000);
    // ...and its decision on the same evidence is recorded after it.
    await engine.suspend(['bob'], 'account bob: review', evidence, decisionAt(decidedAt));

    const res = await lookup(svc, await svc.tokenFor('bob'), { phone: NUMBERS.usA });
    // Fails today: 403, suspended again two seconds after the reinstatement, by a decision made before it.
    expect(res.statusCode, res.body).toBe(200);
  });
});
