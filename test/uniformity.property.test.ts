import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { lookup, mirrorAccount, sync } from './helpers/fixtures.js';
import { describeEachDialect, startTestService, type TestService } from './helpers/service.js';

type Purpose = 'two_factor' | 'recovery' | 'discovery';

/** Every state a number can be in, from the outside. */
const state = fc.record({
  registered: fc.boolean(),
  purposes: fc.subarray<Purpose>(['two_factor', 'recovery', 'discovery']),
  verified: fc.boolean(),
  appStatus: fc.constantFrom('active', 'suspended'),
  findguardStatus: fc.constantFrom('active', 'suspended'),
  format: fc.constantFrom('e164', 'national', 'spaced'),
  // "My contacts" (directory/discoverability.ts): unset is the discovery purpose alone (everyone).
  discoverableBy: fc.constantFrom(undefined, 'everyone', 'contacts', 'nobody'),
  // The owner's latest sync held the prober's own verified phone.
  proberInBook: fc.boolean(),
});
const PROBER_PHONE = '+4915119999999';

describeEachDialect('uniformity rule (property)', (dialect) => {
  let svc: TestService;
  let token: string;
  let n = 0;
  beforeAll(async () => {
    svc = await startTestService(dialect, { policy: 'none' });
    await mirrorAccount(svc, 'prober', [{ value: PROBER_PHONE, purposes: ['two_factor'] }]);
    token = await svc.tokenFor('prober');
  });
  afterAll(async () => svc.stop());

  it('a number matches only when discoverable (to this caller), and every other state answers the same bytes', async () => {
    const nonMatching = new Set<string>();
    await fc.assert(
      fc.asyncProperty(state, async (s) => {
        n++;
        const national = `0151${String(20_000_000 + n).padStart(8, '0')}`;
        const e164 = `+49${national.slice(1)}`;
        const id = `u${n}`;
        // discoverableBy decides the discovery purpose: the purposes sent agree with it.
        const by = s.discoverableBy;
        const purposes = by === undefined ? s.purposes : by === 'nobody' ? s.purposes.filter((p) => p !== 'discovery') : [...new Set([...s.purposes, 'discovery' as const])];
        if (s.registered) {
          await mirrorAccount(svc, id);
          const added = await svc.app.inject({
            method: 'POST',
            url: `/internal/v1/accounts/${id}/contact-points`,
            headers: svc.internal,
            payload: { kind: 'phone', value: e164, purposes, verified: s.verified, ...(by ? { discoverableBy: by } : {}) },
          });
          expect(added.statusCode).toBe(201);
          // The owner's own sync, while active: the book a contacts-mode point is matched against.
          const book = s.proberInBook ? [PROBER_PHONE, '+4915119999998'] : ['+4915119999998'];
          expect((await sync(svc, await svc.tokenFor(id), { contacts: book })).statusCode).toBe(200);
          if (s.appStatus === 'suspended') await mirrorAccount(svc, id, [], { status: 'suspended' });
          if (s.findguardStatus === 'suspended') {
            await svc.ctx.directory.setFindguardStatus(id, 'suspended');
          }
        }
        const asked = s.format === 'e164' ? { phone: e164 } : s.format === 'national' ? { phone: national, region: 'DE' } : { phone: `+49 151 ${e164.slice(6)}` };
        const single = await lookup(svc, token, asked);
        const batch = await sync(svc, token, { region: 'DE', contacts: [asked.phone] });
        const discoverable =
          s.registered &&
          purposes.includes('discovery') &&
          s.verified &&
          s.appStatus === 'active' &&
          s.findguardStatus === 'active' &&
          (by !== 'contacts' || s.proberInBook);
        expect(single.statusCode).toBe(200);
        expect(batch.statusCode).toBe(200);
        if (discoverable) {
          expect(single.json().match).toMatchObject({ accountId: id });
          expect(batch.json().matches).toEqual([expect.objectContaining({ index: 0, accountId: id })]);
        } else {
          nonMatching.add(single.body);
          nonMatching.add(batch.body.replace(/"token":"[^"]+"/, '"token":""'));
        }
      }),
      { numRuns: 120, seed: 20191224 },
    );
    expect([...nonMatching].sort()).toEqual(['{"match":null}', '{"matches":[],"previousMatches":[],"invalid":[],"token":""}']);
  });
});
