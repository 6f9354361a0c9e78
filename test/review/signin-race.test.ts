import { afterAll, beforeAll, expect, it } from 'vitest';
import { listAudit } from '../../src/incidents/index.js';
import { OPERATOR_RULE, PAIR_RULE, SECOND_FACTOR_RULE } from '../../src/operators/throttle.js';
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

  it('parallel wrong passwords from many networks get no more password checks past the name lock than sequential ones', async () => {
    // Added later: the per-name count (OPERATOR_RULE) was still counted after the check, so a botnet's
    // guesses sent together all found the name unlocked and all had their password checked.
    await addOperator(svc, 'racey-name', 'viewer');
    const tries = OPERATOR_RULE.free + 25;
    await Promise.all(
      Array.from({ length: tries }, (_, i) =>
        svc.app.inject({ method: 'POST', url: '/admin/v1/session', remoteAddress: `100.80.${i}.1`, payload: { name: 'racey-name', password: `guess-${i}-xxxxxxxx`, totp: '000000' } }),
      ),
    );
    const failed = await listAudit(svc.ctx.db.kysely, { action: 'signin.failed', limit: 500 });
    const mine = failed.filter((e) => JSON.stringify(e).includes('racey-name'));
    const checked = mine.filter((e) => e.reason === 'wrong_password').length;
    const gated = mine.filter((e) => e.reason === 'locked_unfamiliar_network').length;
    // Sequentially: OPERATOR_RULE.free wrong passwords, then the one that trips the lock; the rest gated unchecked.
    expect(checked + gated, `checked ${checked}, gated ${gated}`).toBe(tries);
    expect(checked, `checked ${checked}, gated ${gated}`).toBeLessThanOrEqual(OPERATOR_RULE.free + 1);
  });
});

