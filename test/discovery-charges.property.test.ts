import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { compilePolicy } from '../src/policy/index.js';
import { CALLER_PHONE, choosePrevious, type Issued, type Observed, observeDiscovery, OWNER, plantTargets, postDiscovery, step } from './helpers/discovery-property.js';
import { mirrorAccount } from './helpers/fixtures.js';
import { describeEachDialect, startTestService, T0, type TestService } from './helpers/service.js';

/**
 * Issue 13's rule, over random sequences of calls: every number answered to an account (in
 * matches or previousMatches, or a lookup's match) was charged to that account, under the same
 * normalised E.164 value, in this call or in an earlier call whose token covers it.
 *
 * "Charged" is observed where it happens: the values the discovery service declares new, whose
 * count must be exactly what the limiter is asked to charge for that account. "Answered" is
 * observed from outside: a match names a planted account, and the test alone knows that
 * account's E.164 number, so no normalisation of the test's own is trusted.
 */

const DAY = 86_400_000;
const RUNS = Number(process.env.FINDGUARD_PROPERTY_RUNS ?? 2000);

describeEachDialect('every number answered was charged (property)', (dialect) => {
  let svc: TestService;
  let runs = 0;
  let seen: Observed;

  beforeAll(async () => {
    // A budget small enough that refusals happen within a sequence, and a clock that moves.
    const policy = compilePolicy({
      name: 'property',
      tiers: [{ name: 'standard' }],
      layers: [{ id: 'account-new', subject: 'account', cost: 'new', limits: { default: { burst: 12, refill: 12, per: '1d' } } }],
    });
    svc = await startTestService(dialect, {}, { policy });
    await plantTargets(svc);
    seen = observeDiscovery(svc);
  });
  afterAll(async () => svc?.stop());

  it(`holds over ${RUNS} random sequences of lookups, syncs, regions, formats and tokens`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 10 }), async (steps) => {
        const run = ++runs;
        const me = `caller-${run}`;
        const other = `other-${run}`;
        for (const id of [me, other]) await mirrorAccount(svc, id, [], { createdAt: new Date(T0 - 30 * DAY).toISOString() });
        await mirrorAccount(svc, me, [{ value: CALLER_PHONE, purposes: ['two_factor'] }], { createdAt: new Date(T0 - 30 * DAY).toISOString() });
        const issued: Issued[] = [];
        // The other account syncs once, so its token can be replayed by the caller.
        const seed = await postDiscovery(svc, other, 'sync', { region: 'GB', contacts: ['07400 550003'] });
        if (seed.statusCode === 200) issued.push({ account: other, token: seed.json().token, strings: ['07400 550003'], covers: new Set(['+447400550003']) });

        for (const s of steps) {
          if (s.op === 'wait') {
            svc.clock.advance(s.days * DAY);
            continue;
          }
          seen.asked.length = 0;
          seen.declared.length = 0;
          if (s.op === 'lookup') {
            const res = await postDiscovery(svc, me, 'lookup', { phone: s.phone, ...(s.region ? { region: s.region } : {}) });
            const match = res.statusCode === 200 ? (res.json().match as { accountId: string } | null) : null;
            if (!match) continue;
            expect(match.accountId).not.toBe('planted-5');
            const value = OWNER.get(match.accountId)!;
            const d = seen.declared.at(-1)!;
            expect(d.kind === 'lookup' && d.p.value).toBe(value);
            expect(seen.asked).toEqual([{ accountId: me, newNumbers: 1, uncharged: false }]);
            continue;
          }
          const prev = choosePrevious(s.previous, issued, me);
          const body = { ...(s.region ? { region: s.region } : {}), contacts: s.contacts, ...(prev ? { previous: { token: prev.token, contacts: prev.strings } } : {}) };
          const res = await postDiscovery(svc, me, 'sync', body);
          if (res.statusCode !== 200) {
            // Refused calls reveal nothing; a token that does not fit is refused as unknown.
            expect(res.body).not.toMatch(/planted-/);
            if (prev && !prev.honest) expect([400, 429]).toContain(res.statusCode);
            continue;
          }
          // Only an honest previous of the caller's own token is accepted.
          expect(prev === undefined || prev.honest).toBe(true);
          const d = seen.declared.at(-1)!;
          if (d.kind !== 'sync') throw new Error('no sync was prepared');
          const now = new Set(d.p.newValues);
          // The limiter was asked to charge exactly the declared new values, to this account.
          expect(seen.asked).toEqual([{ accountId: me, newNumbers: now.size, uncharged: false }]);
          const paid = new Set([...(prev?.issued.covers ?? []), ...now]);
          const json = res.json() as { matches: Array<{ accountId: string }>; previousMatches: Array<{ accountId: string }>; token: string };
          for (const m of [...json.matches, ...json.previousMatches]) {
            expect(paid).toContain(OWNER.get(m.accountId));
            expect(m.accountId).not.toBe('planted-5');
          }
          issued.push({ account: me, token: json.token, strings: [...(prev?.strings ?? []), ...s.contacts], covers: paid });
        }
      }),
      { numRuns: RUNS },
    );
  }, 600_000);

});

