import { afterAll, beforeAll, expect, it } from 'vitest';
import { addOperator, OPERATOR_OVERRIDES } from '../helpers/operators.js';
import { startTestService, type TestService } from '../helpers/service.js';

/**
 * Review of 3356147: signin_throttle now keys names by an HMAC, and "counts held under the old
 * plain-name keys are not carried over: an upgrade restarts them (the stale rows go with the
 * 24-hour sweep)". Two consequences, both avoidable with a migration that rewrites the old keys
 * (`op:<name>`, `pair:<name>|<net>`: the plain name is right there to hash):
 * - an operator name locked against a brute force at the moment of the upgrade is unlocked by the
 *   deploy, and the guesser starts again with 20 free attempts;
 * - the old rows keep what was typed into the name field (an email address) in plain text, and the
 *   "24-hour sweep" runs only inside succeeded(), i.e. after a successful password sign-in: a
 *   deployment whose operators sign in through OIDC never runs it, and the rows stay.
 */
let svc: TestService;
beforeAll(async () => {
  svc = await startTestService('sqlite', {}, OPERATOR_OVERRIDES);
  await addOperator(svc, 'olga', 'admin');
}, 60_000);
afterAll(async () => svc?.stop());

it('a name locked before the upgrade stays locked after it', async () => {
  const now = svc.clock.now();
  // What the previous release stored for an operator name under attack: locked for 30 more minutes.
  await svc.ctx.db.kysely.insertInto('signin_throttle').values({ key: 'op:olga', failures: 40, blocked_until: now + 30 * 60_000, last_failure_at: now }).execute();
  expect(await svc.ctx.operators.throttle.operatorRetryAfter('olga', now)).toBeGreaterThan(0);
});

it('an email typed into the name field before the upgrade does not stay in signin_throttle', async () => {
  const now = svc.clock.now();
  await svc.ctx.db.kysely.insertInto('signin_throttle').values({ key: 'pair:lena@corp.example|203.0.113.0/24', failures: 1, blocked_until: 0, last_failure_at: now - 3 * 24 * 3600_000 }).execute();
  // Two days of failed sign-ins on the new release (no successful password sign-in: OIDC operators).
  for (let day = 0; day < 2; day++) {
    svc.clock.set(now + day * 24 * 3600_000);
    await svc.ctx.operators.signIn('nobody-here', 'wrong-password-123', '000000', { from: '198.51.100.7', tool: 'console' }).catch(() => undefined);
  }
  const keys = (await svc.ctx.db.kysely.selectFrom('signin_throttle').select('key').execute()).map((r) => r.key);
  expect(keys.filter((k) => k.includes('@'))).toEqual([]);
});
