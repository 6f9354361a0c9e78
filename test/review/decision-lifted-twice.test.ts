import { afterAll, beforeAll, expect, it } from 'vitest';
import { listAudit } from '../../src/incidents/index.js';
import { addOperator, OPERATOR_OVERRIDES, signIn, type SignedIn } from '../helpers/operators.js';
import { describeEachDialect, startTestService, type TestService } from '../helpers/service.js';

/**
 * Review: lifting a decision (POST /admin/v1/decisions/{id}/lift) reads the row without a lock
 * (operator-decisions.ts decisionRow), checks it is not lifted, then updates `where lifted_at is
 * null` and reports the row as lifted by this call whatever the update changed. Two operators
 * lifting the same decision at once (two nodes, or a double click) on PostgreSQL both pass the
 * check: both get 200, both write a `decision.lift` audit entry with their own reason, while the row
 * keeps only the first lifter's name and reason; the second's cache notice carries a lift that
 * never happened. One of them must be told 409 (already lifted), and the trail must show one lift.
 */
describeEachDialect('review: a decision is lifted once', (dialect) => {
  let svc: TestService;
  let alice: SignedIn;
  let bob: SignedIn;
  beforeAll(async () => {
    svc = await startTestService(dialect, { policy: 'none' }, OPERATOR_OVERRIDES);
    alice = await signIn(svc, await addOperator(svc, 'dl-alice', 'analyst'));
    bob = await signIn(svc, await addOperator(svc, 'dl-bob', 'analyst'));
  }, 60_000);
  afterAll(async () => svc?.stop());

  it('two lifts at once: one succeeds, one is refused, one audit entry', async () => {
    for (let round = 0; round < 5; round++) {
      const added = await svc.app.inject({ method: 'POST', url: '/admin/v1/decisions', headers: alice.headers, payload: { scope: 'asn', subject: `AS6450${round}`, action: 'throttle', reason: 'scan from this network' } });
      expect(added.statusCode, added.body).toBe(201);
      const id = added.json<{ id: string }>().id;
      const [a, b] = await Promise.all([
        svc.app.inject({ method: 'POST', url: `/admin/v1/decisions/${id}/lift`, headers: alice.headers, payload: { reason: 'alice: false alarm' } }),
        svc.app.inject({ method: 'POST', url: `/admin/v1/decisions/${id}/lift`, headers: bob.headers, payload: { reason: 'bob: network cleaned up' } }),
      ]);
      const lifts = (await listAudit(svc.ctx.db.kysely, { subject: `decision:${id}`, action: 'decision.lift', limit: 10 })).map((e) => `${e.actor.name}: ${e.reason}`);
      expect([a.statusCode, b.statusCode].sort(), `round ${round}: ${a.body} | ${b.body}`).toEqual([200, 409]);
      expect(lifts, `round ${round}`).toHaveLength(1);
    }
  });
});
