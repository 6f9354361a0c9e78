import { afterEach, expect, it } from 'vitest';
import { lookup } from '../helpers/fixtures.js';
import { describeEachDialect, HASH_KEYS, startTestService, type Dialect, type TestService } from '../helpers/service.js';

/**
 * Found in review ("my contacts" leaking): a hash key rotation completes when the app
 * mirrors each point again (README: "re-mirroring is how a rotation completes"). The import keeps a
 * point's audience when the line does not name one ("a re-import never widens it"), but the
 * internal API's POST .../contact-points does not: resolveDiscoverability(body) defaults the audience
 * to everyone, and putContactPoint's rehash branch writes it over the stored one. So a number its
 * owner made findable by their contacts only becomes findable by everyone after the rotation's
 * re-mirror, by an app that sent exactly what it sent the first time but for discoverableBy.
 */
const ROTATED = `v2:${Buffer.alloc(32, 9).toString('base64')},${HASH_KEYS}`;
const OWNER_PHONE = '+447400550071';

describeEachDialect('a key-rotation re-mirror keeps a point\'s audience', (dialect: Dialect) => {
  const started: TestService[] = [];
  afterEach(async () => {
    for (const s of started.reverse()) await s.stop().catch(() => undefined);
    started.length = 0;
  });

  it('a contacts-only number stays contacts-only after the re-mirror under the new key', async () => {
    const a = await startTestService(dialect);
    started.push(a);
    const put = (svc: TestService, id: string) =>
      svc.app.inject({ method: 'PUT', url: `/internal/v1/accounts/${id}`, headers: svc.internal, payload: { handle: `h${id.replace(/-/g, '')}` } });
    expect((await put(a, 'owner')).statusCode).toBe(201);
    expect((await put(a, 'stranger')).statusCode).toBe(201);
    const add = (svc: TestService, extra: Record<string, unknown>) =>
      svc.app.inject({
        method: 'POST',
        url: '/internal/v1/accounts/owner/contact-points',
        headers: svc.internal,
        payload: { kind: 'phone', value: OWNER_PHONE, purposes: ['discovery'], verified: true, ...extra },
      });
    expect((await add(a, { discoverableBy: 'contacts' })).statusCode).toBe(201);
    // Before the rotation: a stranger (not in the owner's book) does not find the owner.
    expect((await lookup(a, await a.tokenFor('stranger'), { phone: OWNER_PHONE })).json()).toEqual({ match: null });

    // The rotation: the same database, the new key first; the app mirrors the point again.
    const databaseUrl = a.databaseUrl ?? `sqlite:${a.dataDir}/findguard.sqlite`;
    await a.close();
    started.pop();
    const b = await startTestService(dialect, { databaseUrl, hashKeys: ROTATED });
    started.push(b);
    b.clock.set(a.clock.now() + 60_000);
    const again = await add(b, {});
    expect([200, 201, 409]).toContain(again.statusCode);
    // The stranger still does not find the owner (before the fix, it did).
    expect((await lookup(b, await b.tokenFor('stranger'), { phone: OWNER_PHONE })).json()).toEqual({ match: null });
    const view = await b.app.inject({ method: 'GET', url: '/internal/v1/accounts/owner', headers: b.internal });
    const points = view.json<{ contactPoints: Array<{ discoverableBy: string; keyVersion: number }> }>().contactPoints;
    expect(points.map((p) => p.keyVersion)).toEqual([2]);
    expect(points.map((p) => p.discoverableBy)).toEqual(['contacts']);
  });
});
