import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { compilePolicy } from '../src/policy/index.js';
import { CALLER_PHONE, choosePrevious, type Issued, lookupStep, type Observed, observeDiscovery, OWNER, plantTargets, postDiscovery, type Step, syncStep, waitStep } from './helpers/discovery-property.js';
import { FlakyLimitStore } from './helpers/flaky-limit-store.js';
import { mirrorAccount } from './helpers/fixtures.js';
import { describeEachDialect, startTestService, T0, type TestService } from './helpers/service.js';

/**
 * "Protection has no side doors", with the limits store failing at random moments: out of reach,
 * or charging a call and losing the reply. A policy whose every layer fails open answers during the
 * outage uncharged (the operator's trade); one closed layer refuses instead. Over random sequences:
 *
 * - a call is let through uncharged only while the store is failing, and only when every layer of
 *   the policy fails open; once the store answers again every call is charged;
 * - every number answered by a charged call was paid for by this account, under the same E.164
 *   value, in this call or along the chain of the token it sent;
 * - a token handed out by an uncharged call covers nothing more than the token it came with (the
 *   client sends the set that token binds, and it is accepted), so an outage's answers are never
 *   re-checked for free once the store is back.
 */

const DAY = 86_400_000;
const RUNS = Number(process.env.FINDGUARD_PROPERTY_RUNS ?? 2000) / 4;

type StoreState = 'up' | 'down' | 'losing-replies';
type OutageStep = Step | { op: 'store'; state: StoreState };
const outageStep: fc.Arbitrary<OutageStep> = fc.oneof(
  { weight: 2, arbitrary: lookupStep },
  { weight: 6, arbitrary: syncStep },
  { weight: 1, arbitrary: waitStep },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('store' as const), state: fc.constantFrom<StoreState>('up', 'up', 'down', 'losing-replies') }) },
);

const POLICIES = {
  'every layer open': 'open',
  'one layer closed': 'closed',
} as const;

for (const [label, callsLayer] of Object.entries(POLICIES)) {
  describeEachDialect(`every number answered was charged, with the limits store failing (property, ${label})`, (dialect) => {
    let svc: TestService;
    let store: FlakyLimitStore;
    let seen: Observed;
    let runs = 0;
    const failsOpen = callsLayer === 'open';

    beforeAll(async () => {
      const policy = compilePolicy({
        name: 'property-outages',
        tiers: [{ name: 'standard' }],
        layers: [
          { id: 'account-new', subject: 'account', cost: 'new', onStoreError: 'open', limits: { default: { burst: 12, refill: 12, per: '1d' } } },
          { id: 'account-calls', subject: 'account', cost: 'calls', onStoreError: callsLayer, limits: { default: { burst: 40, refill: 40, per: '1d' } } },
        ],
      });
      store = new FlakyLimitStore();
      svc = await startTestService(dialect, {}, { policy, limitStore: store });
      await plantTargets(svc);
      seen = observeDiscovery(svc);
    });
    afterAll(async () => svc?.stop());

    it(`holds over ${RUNS} random sequences of calls, tokens and store outages`, async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(outageStep, { minLength: 1, maxLength: 12 }), async (steps) => {
          const run = ++runs;
          const me = `caller-${run}`;
          const other = `other-${run}`;
          setStore('up');
          for (const id of [me, other]) await mirrorAccount(svc, id, [], { createdAt: new Date(T0 - 30 * DAY).toISOString() });
          await mirrorAccount(svc, me, [{ value: CALLER_PHONE, purposes: ['two_factor'] }], { createdAt: new Date(T0 - 30 * DAY).toISOString() });
          const issued: Issued[] = [];
          const seed = await postDiscovery(svc, other, 'sync', { region: 'GB', contacts: ['07400 550003'] });
          if (seed.statusCode === 200) issued.push({ account: other, token: seed.json().token, strings: ['07400 550003'], covers: new Set(['+447400550003']) });
          let state: StoreState = 'up';

          for (const s of steps) {
            if (s.op === 'store') {
              state = s.state;
              setStore(state);
              continue;
            }
            if (s.op === 'wait') {
              svc.clock.advance(s.days * DAY);
              continue;
            }
            seen.asked.length = 0;
            seen.declared.length = 0;
            if (s.op === 'lookup') {
              const res = await postDiscovery(svc, me, 'lookup', { phone: s.phone, ...(s.region ? { region: s.region } : {}) });
              if (res.statusCode !== 200) {
                expect(res.body).not.toMatch(/planted-/);
                continue;
              }
              const [verdict] = seen.asked;
              expect(verdict?.accountId).toBe(me);
              expectUncharged(verdict!.uncharged, state);
              const match = res.json().match as { accountId: string } | null;
              if (!match) continue;
              expect(match.accountId).not.toBe('planted-5');
              const d = seen.declared.at(-1)!;
              expect(d.kind === 'lookup' && d.p.value).toBe(OWNER.get(match.accountId));
              if (!verdict!.uncharged) expect(verdict!.newNumbers).toBe(1);
              continue;
            }
            const prev = choosePrevious(s.previous, issued, me);
            const body = { ...(s.region ? { region: s.region } : {}), contacts: s.contacts, ...(prev ? { previous: { token: prev.token, contacts: prev.strings } } : {}) };
            const res = await postDiscovery(svc, me, 'sync', body);
            if (res.statusCode !== 200) {
              expect(res.body).not.toMatch(/planted-/);
              if (prev && !prev.honest) expect([400, 429, 503]).toContain(res.statusCode);
              continue;
            }
            expect(prev === undefined || prev.honest).toBe(true);
            const d = seen.declared.at(-1)!;
            if (d.kind !== 'sync') throw new Error('no sync was prepared');
            const now = new Set(d.p.newValues);
            expect(seen.asked).toHaveLength(1);
            const verdict = seen.asked[0]!;
            expect(verdict).toMatchObject({ accountId: me, newNumbers: now.size });
            expectUncharged(verdict.uncharged, state);
            const before = prev?.issued.covers ?? new Set<string>();
            const json = res.json() as { matches: Array<{ accountId: string }>; previousMatches: Array<{ accountId: string }>; token: string };
            const answered = [...json.matches, ...json.previousMatches];
            for (const m of answered) expect(m.accountId).not.toBe('planted-5');
            if (verdict.uncharged) {
              // Answered unpaid (the policy's trade); the token covers only what was paid before.
              if (prev) expect(json.token).toBe(prev.token);
              issued.push({ account: me, token: json.token, strings: prev?.strings ?? [], covers: before });
              continue;
            }
            const paid = new Set([...before, ...now]);
            for (const m of answered) expect(paid).toContain(OWNER.get(m.accountId));
            issued.push({ account: me, token: json.token, strings: [...(prev?.strings ?? []), ...s.contacts], covers: paid });
          }
        }),
        { numRuns: RUNS },
      );
    }, 600_000);

    /**
     * Uncharged exactly while the store fails, under a policy whose every layer fails open; a
     * closed layer answers nothing then (every call costs the calls layer, so none skips the store).
     */
    function expectUncharged(uncharged: boolean, state: StoreState): void {
      if (state !== 'up') expect(failsOpen, 'answered while the store failed under a closed layer').toBe(true);
      expect(uncharged).toBe(state !== 'up');
    }

    function setStore(state: StoreState): void {
      store.down = state === 'down';
      store.loseReplies = state === 'losing-replies';
    }
  });
}
