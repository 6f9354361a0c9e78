import { afterAll, beforeAll, expect, it } from 'vitest';
import { listAudit } from '../../src/incidents/index.js';
import { PAIR_RULE, SECOND_FACTOR_RULE } from '../../src/operators/throttle.js';
import { totpCode } from '../../src/operators/totp.js';
import { addOperator, OPERATOR_OVERRIDES } from '../helpers/operators.js';
import { describeEachDialect, startTestService, type TestService } from '../helpers/service.js';

/**
 * Review: the sign-in throttle is check-then-count. signIn() reads the (name, address) wait, then
 * runs the slow password check, and only then counts the failure; guesses sent at once all pass
 * the first read before any of them is counted. Sent one after another, a (name, address) pair
 * gets PAIR_RULE.free failures and then waits; sent together, every guess is checked.
 */
describeEachDialect('review: parallel sign-in guesses', (dialect) => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService(dialect, {}, OPERATOR_OVERRIDES);
    await addOperator(svc, 'racey', 'viewer');
  });
  afterAll(async () => svc?.stop());

  it('parallel wrong passwords from one address get no more checks than sequential ones', async () => {
    const source = '198.51.100.41';
    const tries = 40;
    const answers = await Promise.all(
      Array.from({ length: tries }, (_, i) =>
        svc.app.inject({ method: 'POST', url: '/admin/v1/session', remoteAddress: source, payload: { name: 'racey', password: `guess-${i}-xxxxxxxx`, totp: '000000' } }),
      ),
    );
    const checked = answers.filter((r) => r.statusCode === 401).length;
    const failed = await listAudit(svc.ctx.db.kysely, { action: 'signin.failed', limit: 100 });
    // Sequentially: PAIR_RULE.free failures, then the one that trips the wait.
    expect(checked, `password checks: ${checked}, failures audited: ${failed.length}`).toBeLessThanOrEqual(PAIR_RULE.free + 1);
  });

  it('parallel wrong codes after the right password get no more code checks than sequential ones', async () => {
    // Added with the fix: the second-factor counter had the same check-then-count shape.
    const op = await addOperator(svc, 'racey-totp', 'viewer');
    const wrong = String((Number(totpCode(op.totpSecret, svc.clock.now())) + 500_000) % 1_000_000).padStart(6, '0');
    await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        svc.app.inject({ method: 'POST', url: '/admin/v1/session', remoteAddress: `100.66.${i}.1`, payload: { name: op.name, password: op.password, totp: wrong } }),
      ),
    );
    const failed = await listAudit(svc.ctx.db.kysely, { action: 'signin.failed', limit: 200 });
    const codesChecked = failed.filter((e) => e.subject === `operator:${op.id}` && e.reason === 'wrong_totp').length;
    // Sequentially: SECOND_FACTOR_RULE.free wrong codes, then the one that trips the wait.
    expect(codesChecked).toBeGreaterThan(0);
    expect(codesChecked).toBeLessThanOrEqual(SECOND_FACTOR_RULE.free + 1);
  });
});
