import { afterAll, beforeAll, expect, it } from 'vitest';
import { importLines, mirrorAccount } from './helpers/fixtures.js';
import { describeEachDialect, startTestService, type TestService } from './helpers/service.js';

/**
 * A re-import line writes over an existing account only the fields it names, as PUT does: an
 * omitted status, phone country, sign-up context or createdAt keeps the stored one; a named null
 * phone country clears it. Lines naming different fields in one batch each keep their own.
 */
describeEachDialect('import: an omitted field keeps the stored value', (dialect) => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService(dialect, { policy: 'none' });
    const account = { phoneRegion: 'DE', createdAt: '2020-01-02T03:04:05.000Z', status: 'suspended', signup: { ip: '192.0.2.7', deviceId: 'dev-1', userAgent: 'ua/1' } };
    await mirrorAccount(svc, 'kept', [], account);
    await mirrorAccount(svc, 'cleared', [], account);
  });
  afterAll(async () => svc.stop());

  const view = async (id: string) => (await svc.app.inject({ method: 'GET', url: `/internal/v1/accounts/${id}`, headers: svc.internal })).json();

  it('keeps what a line omits and writes what it names', async () => {
    const res = await importLines(svc, [
      { accountId: 'kept', handle: 'h_kept2' },
      { accountId: 'cleared', handle: 'h_cleared2', phoneRegion: null, status: 'active', signup: { ip: '198.51.100.9' } },
      { accountId: 'fresh', handle: 'h_fresh' },
    ]);
    expect(res.json()).toMatchObject({ accounts: 3, failed: 0 });
    expect(await view('kept')).toMatchObject({
      handle: 'h_kept2', appStatus: 'suspended', phoneRegion: 'DE', createdAt: '2020-01-02T03:04:05.000Z',
      signup: { ip: '192.0.2.7', deviceId: 'dev-1', userAgent: 'ua/1' },
    });
    expect(await view('cleared')).toMatchObject({
      handle: 'h_cleared2', appStatus: 'active', phoneRegion: null, createdAt: '2020-01-02T03:04:05.000Z',
      signup: { ip: '198.51.100.9', deviceId: null, userAgent: null },
    });
    expect(await view('fresh')).toMatchObject({ appStatus: 'active', phoneRegion: null, signup: { ip: null, deviceId: null, userAgent: null } });
  });
});
