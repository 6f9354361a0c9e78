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
});

describeEachDialect('uniformity rule (property)', (dialect) => {
  let svc: TestService;
  let token: string;
  let n = 0;
  beforeAll(async () => {
    svc = await startTestService(dialect, { policy: 'none' });
    await mirrorAccount(svc, 'prober');
    token = await svc.tokenFor('prober');
  });
  afterAll(async () => svc.stop());

  it('a number matches only when discoverable, and every other state answers the same bytes', async () => {
    const nonMatching = new Set<string>();
    await fc.assert(
      fc.asyncProperty(state, async (s) => {
        n++;
        const national = `0151${String(20_000_000 + n).padStart(8, '0')}`;
        const e164 = `+49${national.slice(1)}`;
        const id = `u${n}`;
        if (s.registered) {
          await mirrorAccount(svc, id, [{ value: e164, purposes: s.purposes, verified: s.verified }], { status: s.appStatus });
          if (s.findguardStatus === 'suspended') {
            await svc.ctx.directory.setFindguardStatus(id, 'suspended');
          }
        }
        const asked = s.format === 'e164' ? { phone: e164 } : s.format === 'national' ? { phone: national, region: 'DE' } : { phone: `+49 151 ${e164.slice(6)}` };
        const single = await lookup(svc, token, asked);
        const batch = await sync(svc, token, { region: 'DE', contacts: [asked.phone] });
        const discoverable =
          s.registered && s.purposes.includes('discovery') && s.verified && s.appStatus === 'active' && s.findguardStatus === 'active';
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
