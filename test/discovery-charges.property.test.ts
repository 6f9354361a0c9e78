import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { compilePolicy } from '../src/policy/index.js';
import { callAndCheck, type Observed, observeDiscovery, plantTargets, recreateCaller, recreateStep, startSequence, step } from './helpers/discovery-property.js';
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

  it(`holds over ${RUNS} random sequences of lookups, syncs, regions, formats, tokens and the caller's id erased and mirrored again`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.oneof({ weight: 9, arbitrary: step }, { weight: 1, arbitrary: recreateStep }), { minLength: 1, maxLength: 10 }), async (steps) => {
        const { me, issued } = await startSequence(svc, svc, ++runs, T0);
        for (const s of steps) {
          if (s.op === 'wait') svc.clock.advance(s.days * DAY);
          else if (s.op === 'recreate') await recreateCaller(svc, me, s.via, issued, svc.clock.now());
          else await callAndCheck(svc, me, s, issued, seen);
        }
      }),
      { numRuns: RUNS },
    );
  }, 600_000);

});

