import { afterEach, expect, it } from 'vitest';
import { lookup } from '../helpers/fixtures.js';
import { describeEachDialect, HASH_KEYS, startTestService, type Dialect, type TestService } from '../helpers/service.js';

/**
 * Review (fixed: contact-points.ts hasRetiredContactsPoint, and the import's pointWrites): a "my contacts" point stored under a key that is later dropped from the configuration
 * (rotation finished: FINDGUARD_HASH_KEYS = v2 only) is no longer recognised when the app mirrors
 * it again the way it first did (no discoverableBy): putContactPoint finds no row under the
 * configured keys, inserts a new one with the default audience (everyone), and a stranger finds
 * the owner. Nothing at start-up refuses or warns about rows under keys no longer configured.
 */
const V2_ONLY = `v2:${Buffer.alloc(32, 9).toString('base64')}`;
const ROTATING = `${V2_ONLY},${HASH_KEYS}`;
const OWNER_PHONE = '+447400550072';

describeEachDialect('dropping the old key, then a re-mirror, keeps a contacts-only audience', (dialect: Dialect) => {
  const started: TestService[] = [];
  afterEach(async () => {
    for (const s of started.reverse()) await s.stop().catch(() => undefined);
    started.length = 0;
  });

  for (const path of ['POST', 'import'] as const)
  it(`a stranger does not find a contacts-only owner after the old key is dropped and the point re-mirrored (${path})`, async () => {
    const a = await startTestService(dialect);
    started.push(a);
    const put = (svc: TestService, id: string) =>
      svc.app.inject({ method: 'PUT', url: `/internal/v1/accounts/${id}`, headers: svc.internal, payload: { handle: `h${id}` } });
    const add = (svc: TestService, extra: Record<string, unknown>) =>
      svc.app.inject({ method: 'POST', url: '/internal/v1/accounts/owner/contact-points', headers: svc.internal, payload: { kind: 'phone', value: OWNER_PHONE, purposes: ['discovery'], verified: true, ...extra } });
    expect((await put(a, 'owner')).statusCode).toBe(201);
    expect((await put(a, 'stranger')).statusCode).toBe(201);
    expect((await add(a, { discoverableBy: 'contacts' })).statusCode).toBe(201);
    expect((await lookup(a, await a.tokenFor('stranger'), { phone: OWNER_PHONE })).json()).toEqual({ match: null });

    const databaseUrl = a.databaseUrl ?? `sqlite:${a.dataDir}/findguard.sqlite`;
    await a.close();
    started.pop();
    // The rotation's last step: the old key goes.
    const b = await startTestService(dialect, { databaseUrl, hashKeys: V2_ONLY });
    started.push(b);
    b.clock.set(a.clock.now() + 60_000);
    const again =
      path === 'POST'
        ? await add(b, {})
        : await b.app.inject({
            method: 'POST',
            url: '/internal/v1/import',
            headers: { ...b.internal, 'content-type': 'application/x-ndjson' },
            payload: `${JSON.stringify({ accountId: 'owner', handle: 'howner', contactPoints: [{ kind: 'phone', value: OWNER_PHONE, purposes: ['discovery'], verified: true }] })}\n`,
          });
    expect([200, 201, 409]).toContain(again.statusCode);
    if (path === 'import') expect(again.json()).toMatchObject({ failed: 0 });
    const view = await b.app.inject({ method: 'GET', url: '/internal/v1/accounts/owner', headers: b.internal });
    // Two rows now: the old one (contacts, key 1, unmatchable) and a new one under key 2, which
    // takes the narrower audience of the old one it cannot be told apart from.
    expect(view.json<{ contactPoints: Array<{ discoverableBy: string }> }>().contactPoints.map((p) => p.discoverableBy)).toEqual(['contacts', 'contacts']);
    expect((await lookup(b, await b.tokenFor('stranger'), { phone: OWNER_PHONE })).json()).toEqual({ match: null });
  });
});
