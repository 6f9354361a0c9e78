import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createLogger } from '../src/logger.js';
import { createService, type Service } from '../src/main.js';
import { compilePolicy } from '../src/policy/index.js';
import { SeededRandom } from '../src/util/random.js';
import { mirrorAccount } from './helpers/fixtures.js';
import { describeEachDialect, startTestService, T0, type TestService } from './helpers/service.js';

/**
 * The embedded default's limits live in the serving process's memory, saved to its own database
 * (on SQLite as a journal folded now and then). The discovery-charges property checks that every
 * number answered was *charged*; this one checks that the charge *holds*: over random sequences
 * of syncs, lookups, tokens, waits and restarts (clean stops, and crashes that leave the journal
 * unfolded), the distinct accounts answered to a caller never exceed what its budget let it pay
 * for since its first call. A restart that handed a caller back a spent budget, or replayed a
 * saved state older than its last answer, would let it see more numbers than it paid for.
 */

const DAY = 86_400_000;
const RUNS = Math.max(20, Math.round(Number(process.env.FINDGUARD_PROPERTY_RUNS ?? 2000) / 16));
const BURST = 5;
const REFILL_PER_DAY = 5;

/** Planted discoverable accounts, each reachable in three spellings. */
const TARGETS = Array.from({ length: 20 }, (_, i) => {
  const tail = String(550200 + i);
  return { id: `drip-${i}`, e164: `+447400${tail}`, forms: [`+447400${tail}`, `07400 ${tail}`, `+44 7400 ${tail.slice(0, 3)} ${tail.slice(3)}`] };
});
const STRINGS = [...TARGETS.flatMap((t) => t.forms), '07400 550299', '+447400550298', 'not a number', '+33612345678'];

type Step =
  | { op: 'lookup'; phone: string }
  | { op: 'sync'; contacts: string[]; previous: 'none' | 'last' | 'first' }
  | { op: 'wait'; days: number }
  | { op: 'restart'; crash: boolean };

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ op: fc.constant('lookup' as const), phone: fc.constantFrom(...STRINGS) }) },
  {
    weight: 6,
    arbitrary: fc.record({
      op: fc.constant('sync' as const),
      contacts: fc.array(fc.constantFrom(...STRINGS), { minLength: 1, maxLength: 8 }),
      previous: fc.constantFrom('none' as const, 'last' as const, 'last' as const, 'first' as const),
    }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('wait' as const), days: fc.constantFrom(0.01, 0.2, 0.5, 1) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('restart' as const), crash: fc.boolean() }) },
);

describeEachDialect('a spent budget stays spent across restarts of the embedded limits (property)', (dialect) => {
  const policy = () =>
    compilePolicy({
      name: 'budget-restarts',
      tiers: [{ name: 'standard' }],
      layers: [{ id: 'account-new', subject: 'account', cost: 'new', limits: { default: { burst: BURST, refill: REFILL_PER_DAY, per: '1d' } } }],
    });
  let base: TestService;
  let node: Service;
  const restarts = { clean: 0, crash: 0 };
  let seed = 100;
  let runs = 0;
  let refusedAtBudget = 0;

  beforeAll(async () => {
    base = await startTestService(dialect, {}, { policy: policy() });
    node = base;
    for (const t of TARGETS) await mirrorAccount(base, t.id, [{ value: t.e164, purposes: ['discovery'] }]);
  }, 120_000);
  afterAll(async () => {
    if (node !== base) await node.close();
    await base?.stop();
  });

  async function restart(crash: boolean): Promise<void> {
    if (crash) {
      // A crash: the process's lock ends with it and its store is never closed (no last save, no fold).
      await node.ctx.dropNodeLockAsCrash();
      // Then its connections go, as a dead process's do (kept open, a crash in every other
      // sequence ran PostgreSQL out of connections). Its lock released, closing writes no limits
      // state: it is no longer the only node (limits-crash-window tests that part).
      await node.close();
      restarts.crash++;
    } else {
      await node.close();
      restarts.clean++;
    }
    node = await createService(base.config, base.secrets, { clock: base.clock, random: new SeededRandom(++seed), logger: createLogger('silent'), policy: policy() });
  }

  async function post(me: string, path: 'lookup' | 'sync', payload: Record<string, unknown>) {
    const res = await node.app.inject({
      method: 'POST',
      url: `/v1/discovery/${path}`,
      headers: { authorization: `Bearer ${await base.tokenFor(me)}`, 'x-device-id': `dev-${me}` },
      payload,
    });
    if (res.statusCode === 429) refusedAtBudget++;
    // 400: a lookup of a string that is no number (a sync skips those).
    else expect(res.statusCode === 200 || (path === 'lookup' && res.statusCode === 400)).toBe(true);
    return res;
  }

  it(`answers no caller more accounts than its budget paid for, over ${RUNS} random sequences with restarts`, async () => {
    const owner = new Map(TARGETS.map((t) => [t.id, t.e164]));
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 14 }), async (steps) => {
        const me = `budget-caller-${++runs}`;
        await mirrorAccount({ app: node.app, internal: base.internal }, me, [], { createdAt: new Date(base.clock.now() - 30 * DAY).toISOString() });
        const started = base.clock.now();
        const answered = new Set<string>();
        const tokens: Array<{ token: string; contacts: string[] }> = [];
        for (const s of steps) {
          if (s.op === 'wait') base.clock.advance(s.days * DAY);
          else if (s.op === 'restart') await restart(s.crash);
          else if (s.op === 'lookup') {
            const res = await post(me, 'lookup', { phone: s.phone, region: 'GB' });
            const match = res.statusCode === 200 ? (res.json().match as { accountId: string } | null) : null;
            if (match) answered.add(match.accountId);
          } else {
            const prev = s.previous === 'none' ? undefined : s.previous === 'last' ? tokens.at(-1) : tokens[0];
            const res = await post(me, 'sync', { region: 'GB', contacts: s.contacts, ...(prev ? { previous: { token: prev.token, contacts: prev.contacts } } : {}) });
            if (res.statusCode === 200) {
              const json = res.json() as { matches: Array<{ accountId: string }>; previousMatches: Array<{ accountId: string }>; token: string };
              for (const m of [...json.matches, ...json.previousMatches]) answered.add(m.accountId);
              tokens.push({ token: json.token, contacts: [...(prev?.contacts ?? []), ...s.contacts] });
            }
          }
          for (const id of answered) expect(owner.has(id)).toBe(true);
          const paidFor = BURST + (REFILL_PER_DAY * (base.clock.now() - started)) / DAY;
          expect(answered.size).toBeLessThanOrEqual(Math.floor(paidFor + 1e-9));
        }
      }),
      { numRuns: RUNS },
    );
    // The sequences did restart both ways, and did reach the budget: otherwise the bound proved nothing.
    expect(restarts.clean).toBeGreaterThan(0);
    expect(restarts.crash).toBeGreaterThan(0);
    expect(refusedAtBudget).toBeGreaterThan(0);
  }, 600_000);
});
