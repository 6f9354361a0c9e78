import { afterEach, expect, it } from 'vitest';
import { lookup, mirrorAccount } from './helpers/fixtures.js';
import { describeEachDialect, HASH_KEYS, startTestService, type Dialect, type TestService } from './helpers/service.js';

/**
 * Where two accounts claim one number, the earliest-added point wins, on both databases and
 * whichever key each claim is hashed under. During a key rotation an older claim still under the
 * old key and a newer one under the new key are both live: PostgreSQL answered the one found under
 * the newest key, SQLite the earliest (found in review).
 */
const ROTATED = `v2:${Buffer.alloc(32, 7).toString('base64')},${HASH_KEYS}`;
const NUMBER = '+447400550081';

describeEachDialect('the earliest claim on a number wins across hash keys', (dialect: Dialect) => {
  const started: TestService[] = [];
  afterEach(async () => {
    for (const s of started.reverse()) await s.stop().catch(() => undefined);
    started.length = 0;
  });

  it('an older claim under the old key beats a newer one under the new key', async () => {
    const a = await startTestService(dialect);
    started.push(a);
    await mirrorAccount(a, 'first-owner', [{ value: NUMBER, purposes: ['discovery'] }]);
    const databaseUrl = a.databaseUrl ?? `sqlite:${a.dataDir}/findguard.sqlite`;
    const at = a.clock.now();
    await a.close();
    started.pop();

    const b = await startTestService(dialect, { databaseUrl, hashKeys: ROTATED });
    started.push(b);
    b.clock.set(at + 60_000);
    await mirrorAccount(b, 'second-owner', [{ value: NUMBER, purposes: ['discovery'] }]);
    await mirrorAccount(b, 'seeker');
    b.clock.advance(2_000);
    const token = await b.tokenFor('seeker');
    expect((await lookup(b, token, { phone: NUMBER })).json()).toMatchObject({ match: { accountId: 'first-owner' } });
    const synced = await b.app.inject({ method: 'POST', url: '/v1/discovery/sync', headers: { authorization: `Bearer ${token}` }, payload: { contacts: [NUMBER, '+447400550082'] } });
    expect(synced.json()).toMatchObject({ matches: [{ index: 0, accountId: 'first-owner' }] });
  });
});
