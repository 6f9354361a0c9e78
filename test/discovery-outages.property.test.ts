import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { compilePolicy } from '../src/policy/index.js';
import { callAndCheck, lookupStep, type Observed, observeDiscovery, plantTargets, startSequence, type Step, syncStep, waitStep } from './helpers/discovery-property.js';
import { FlakyLimitStore } from './helpers/flaky-limit-store.js';
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
          setStore('up');
          const { me, issued } = await startSequence(svc, svc, ++runs, T0);
          let state: StoreState = 'up';
          // Uncharged exactly while the store fails, under a policy whose every layer fails open; a
          // closed layer answers nothing then (every call costs the calls layer, so none skips the store).
          const rules = {
            verdict: (uncharged: boolean) => {
              if (state !== 'up') expect(failsOpen, 'answered while the store failed under a closed layer').toBe(true);
              expect(uncharged).toBe(state !== 'up');
            },
            refusedWith: [400, 429, 503],
          };
          for (const s of steps) {
            if (s.op === 'store') setStore((state = s.state));
            else if (s.op === 'wait') svc.clock.advance(s.days * DAY);
            else await callAndCheck(svc, me, s, issued, seen, rules);
          }
        }),
        { numRuns: RUNS },
      );
    }, 600_000);

    function setStore(state: StoreState): void {
      store.down = state === 'down';
      store.loseReplies = state === 'losing-replies';
    }
  });
}
