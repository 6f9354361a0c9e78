import { afterAll, beforeAll, expect, it } from 'vitest';
import { importNdjson } from '../src/directory/import.js';
import { importLines } from './helpers/fixtures.js';
import { describeEachDialect, startTestService, type TestService } from './helpers/service.js';

/**
 * One write path for accounts (DirectoryService.putAccount and putAccounts): an account that
 * arrives through the bulk import with a sign-up context reaches the abuse engine exactly like
 * one the app mirrors through PUT, and its caches hear of it after the commit.
 */
describeEachDialect('accounts arrive the same way through PUT and the import', (dialect) => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService(dialect, { policy: 'none' });
  });
  afterAll(async () => svc.stop());

  const signup = { ip: '81.2.69.160', deviceId: 'dev-import', userAgent: 'app/1.0' };
  const post = (lines: unknown[]) => importLines(svc, lines);
  const engineSignup = (id: string) => svc.ctx.abuse.engine.store.account(id)?.signup;

  it('an imported sign-up reaches the engine like a mirrored one', async () => {
    const createdAt = new Date(svc.clock.now() - 3600_000).toISOString();
    const put = await svc.app.inject({ method: 'PUT', url: '/internal/v1/accounts/via-put', headers: svc.internal, payload: { handle: 'p', createdAt, signup } });
    expect(put.statusCode).toBe(201);
    const res = await post([
      { accountId: 'via-import', handle: 'i', createdAt, signup },
      { accountId: 'via-import-nosignup', handle: 'n', createdAt },
    ]);
    expect(res.json()).toMatchObject({ accounts: 2, failed: 0 });
    await svc.ctx.events.flush();
    const viaPut = engineSignup('via-put');
    expect(viaPut).toMatchObject({ ip: '81.2.69.160', subnet: '81.2.69.0/24', country: 'GB', deviceId: 'dev-import' });
    // The same event, but for its account id.
    expect(engineSignup('via-import')).toEqual(viaPut);
    expect(engineSignup('via-import-nosignup')).toBeUndefined();
  });

  it('a re-imported account is not a new sign-up, and the address is read the same way (canonical)', async () => {
    await post([{ accountId: 'via-import', handle: 'renamed', signup: { ip: '1.1.1.1' } }]);
    await post([{ accountId: 'v6-import', handle: 'v6', signup: { ip: '2001:DB8:0:0::1' } }]);
    await svc.ctx.events.flush();
    expect(engineSignup('via-import')).toMatchObject({ ip: '81.2.69.160' });
    const account = (await svc.app.inject({ method: 'GET', url: '/internal/v1/accounts/v6-import', headers: svc.internal })).json();
    expect(account.signup.ip).toBe('2001:db8::1');
  });

  it('the import tells the directory caches once per committed batch, as PUT does per account', async () => {
    const changed: string[][] = [];
    const deps = svc.ctx.directory.deps;
    const onChanged = deps.onChanged;
    deps.onChanged = (ids) => {
      changed.push([...ids]);
      onChanged?.(ids);
    };
    try {
      async function* lines() {
        yield JSON.stringify({ accountId: 'batch-1', handle: 'a' });
        yield JSON.stringify({ accountId: 'batch-2', handle: 'b' });
      }
      const report = await importNdjson(svc.ctx.directory, lines());
      expect(report).toMatchObject({ accounts: 2, failed: 0 });
      expect(changed).toEqual([['batch-1', 'batch-2']]);
    } finally {
      deps.onChanged = onChanged;
    }
  });
});
