import { afterAll, beforeAll, expect, it } from 'vitest';
import { lookup, mirrorAccount, NUMBERS } from '../helpers/fixtures.js';
import { addOperator, OPERATOR_OVERRIDES, signIn, type SignedIn } from '../helpers/operators.js';
import { describeEachDialect, startTestService, type TestService } from '../helpers/service.js';

/**
 * Review: an operator's (non-trial) decision on an account must hold on every node whatever the
 * abuse engine's mode. Under a policy without an abuse section (signal-like, hagen-incremental,
 * none, or any operator's own file without one) the engine runs in shadow mode, and the guard
 * (AbuseService.guard) drops every account-scope decision: a challenge or throttle an analyst
 * puts on an account through /admin/v1/decisions is listed as "active" and never enforced,
 * while the same decision on the caller's IP is enforced.
 */
describeEachDialect('review: operator decisions on accounts under a shadow-mode engine', (dialect) => {
  let svc: TestService;
  let analyst: SignedIn;
  beforeAll(async () => {
    svc = await startTestService(dialect, { policy: 'signal-like' }, OPERATOR_OVERRIDES);
    analyst = await signIn(svc, await addOperator(svc, 'rev-analyst', 'analyst'));
    await mirrorAccount(svc, 'rev-target', [{ value: NUMBERS.usA, purposes: ['discovery'] }]);
    await mirrorAccount(svc, 'rev-ip-caller', [{ value: NUMBERS.frA, purposes: ['two_factor'] }]);
    await mirrorAccount(svc, 'rev-acct-caller', [{ value: NUMBERS.gbA, purposes: ['two_factor'] }]);
  });
  afterAll(async () => svc.stop());

  const decide = async (payload: Record<string, unknown>) => {
    const res = await svc.app.inject({ method: 'POST', url: '/admin/v1/decisions', headers: analyst.headers, payload: { reason: 'review', ...payload } });
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json().status).toBe('active');
  };

  it('control: a challenge on the caller\'s IP is enforced', async () => {
    await decide({ scope: 'ip', subject: '198.51.100.77', action: 'challenge' });
    const res = await lookup(svc, await svc.tokenFor('rev-ip-caller'), { phone: NUMBERS.usA }, {});
    // inject() comes from 127.0.0.1 unless told otherwise.
    const fromIp = await svc.app.inject({
      method: 'POST',
      url: '/v1/discovery/lookup',
      remoteAddress: '198.51.100.77',
      headers: { authorization: `Bearer ${await svc.tokenFor('rev-ip-caller')}` },
      payload: { phone: NUMBERS.usA },
    });
    expect(res.statusCode).toBe(200);
    expect(fromIp.statusCode, fromIp.body).toBe(428);
  });

  it('a challenge an analyst puts on an account is enforced', async () => {
    await decide({ scope: 'account', subject: 'rev-acct-caller', action: 'challenge' });
    const res = await lookup(svc, await svc.tokenFor('rev-acct-caller'), { phone: NUMBERS.usA });
    expect(res.statusCode, res.body).toBe(428);
    expect(res.json().error.code).toBe('challenge_required');
  });
});
