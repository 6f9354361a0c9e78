import { afterEach, expect, it } from 'vitest';
import { importLines, lookup, mirrorAccount } from './helpers/fixtures.js';
import { describeEachDialect, startTestService, type Dialect, type TestService } from './helpers/service.js';

/**
 * An account findguard suspended, erased by the app and mirrored again under the same id, is the
 * same suspended account: the standing suspension (never reversed) keeps refusing its calls, and
 * its status and discoverability must say so too. Before, the new row started `active`: the
 * account showed active to the app and operators and its numbers were found again, while its own
 * calls were refused by the decision.
 */
const PHONE = '+14155550191';

describeEachDialect('a findguard suspension survives the account being erased and mirrored again', (dialect: Dialect) => {
  let svc: TestService | undefined;
  afterEach(async () => {
    await svc?.stop();
    svc = undefined;
  });

  const recreate = async (s: TestService, how: 'put' | 'import') => {
    await mirrorAccount(s, 'seeker');
    await mirrorAccount(s, 'fake', [{ value: PHONE, purposes: ['discovery'] }]);
    expect((await lookup(s, await s.tokenFor('seeker'), { phone: PHONE })).json().match).toMatchObject({ accountId: 'fake' });
    await s.ctx.incidents.enforcer.suspend(['fake'], { actor: 'engine', reason: 'fleet account', evidence: {} });
    const erased = await s.app.inject({ method: 'DELETE', url: '/internal/v1/accounts/fake', headers: s.internal });
    expect(erased.statusCode).toBe(204);
    if (how === 'put') await mirrorAccount(s, 'fake', [{ value: PHONE, purposes: ['discovery'] }]);
    else {
      const res = await importLines(s, [{ accountId: 'fake', handle: 'fake', contactPoints: [{ kind: 'phone', value: PHONE, purposes: ['discovery'], verified: true }] }]);
      expect(res.json()).toMatchObject({ accounts: 1, failed: 0 });
    }
  };

  for (const how of ['put', 'import'] as const) {
    it(`mirrored again (${how}): still suspended, not found, and its calls refused`, async () => {
      const s = (svc = await startTestService(dialect));
      await recreate(s, how);
      const view = await s.app.inject({ method: 'GET', url: '/internal/v1/accounts/fake', headers: s.internal });
      expect(view.json()).toMatchObject({ findguardStatus: 'suspended', status: 'suspended' });
      s.clock.advance(2_000);
      const found = await lookup(s, await s.tokenFor('seeker'), { phone: PHONE });
      expect(found.statusCode).toBe(200);
      expect(found.json().match).toBeNull();
      expect((await lookup(s, await s.tokenFor('fake'), { phone: '+14155550192' })).statusCode).toBe(403);
    });
  }

  it('a reinstated account mirrored again starts active', async () => {
    const s = (svc = await startTestService(dialect));
    await recreate(s, 'put');
    await s.ctx.incidents.enforcer.reinstate('fake', { actor: 'engine', reason: 'appeal upheld', evidence: {} });
    await s.app.inject({ method: 'DELETE', url: '/internal/v1/accounts/fake', headers: s.internal });
    await mirrorAccount(s, 'fake', [{ value: PHONE, purposes: ['discovery'] }]);
    const view = await s.app.inject({ method: 'GET', url: '/internal/v1/accounts/fake', headers: s.internal });
    expect(view.json()).toMatchObject({ findguardStatus: 'active' });
    s.clock.advance(2_000);
    expect((await lookup(s, await s.tokenFor('seeker'), { phone: PHONE })).json().match).toMatchObject({ accountId: 'fake' });
  });
});
