import fc from 'fast-check';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import type { PreparedLookup, PreparedSync } from '../src/discovery/service.js';
import type { LimitRequest } from '../src/limits/index.js';
import { compilePolicy } from '../src/policy/index.js';
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

/** Planted discoverable numbers, each with the spellings a client might send and the regions they need. */
const PLANTED: Array<{ e164: string; forms: Array<[string, string | undefined]> }> = [
  {
    e164: '+447400550003',
    forms: [['+447400550003', undefined], ['+44 7400 550003', undefined], ['07400 550003', 'GB'], ['07400-550-003', 'GB'], ['00447400550003', 'GB'], ['7400550003', 'GB'], ['+44 (0)7400 550003', undefined]],
  },
  {
    e164: '+447400550017',
    forms: [['+447400550017', undefined], ['07400 550017', 'GB'], ['(07400) 550017', 'GB']],
  },
  {
    e164: '+14155552671',
    forms: [['+14155552671', undefined], ['(415) 555-2671', 'US'], ['415.555.2671', 'US'], ['1 415 555 2671', 'US'], ['+1 415-555-2671', undefined], ['011 1 415 555 2671', 'US']],
  },
  {
    e164: '+4915123456789',
    forms: [['+4915123456789', undefined], ['0151 23456789', 'DE'], ['+49 (0)151 23456789', undefined], ['0049 151 23456789', 'DE']],
  },
  // "My contacts" owners (directory/discoverability.ts): planted-4's book holds every caller's
  // own verified phone, so it matches them like the others; planted-5's does not, so it never does.
  { e164: '+447400550031', forms: [['+447400550031', undefined], ['07400 550031', 'GB']] },
  { e164: '+447400550032', forms: [['+447400550032', undefined], ['07400 550032', 'GB']] },
];
const OWNER = new Map(PLANTED.map((p, i) => [`planted-${i}`, p.e164]));
const CONTACTS_MODE: Record<string, { book: string[] }> = { 'planted-4': { book: ['+447400550060'] }, 'planted-5': { book: ['+447400550061'] } };
/** Every caller's own verified phone: in planted-4's book, not in planted-5's. */
const CALLER_PHONE = '+447400550060';

/** Strings that match nothing, or are no number at all, or read differently by region. */
const NOISE = ['07400 550004', '+447400550099', '(415) 555-2672', '0151 23456780', 'not a number', '', '+', '0', '+0044', '07400 55000', '123', '+33612345678', '06 12 34 56 78'];
const ALL_STRINGS = [...PLANTED.flatMap((p) => p.forms.map(([s]) => s)), ...NOISE].filter((s) => s.length > 0);
const REGIONS = [undefined, 'GB', 'US', 'DE', 'FR'] as const;

type Step =
  | { op: 'lookup'; phone: string; region: (typeof REGIONS)[number] }
  | { op: 'sync'; contacts: string[]; region: (typeof REGIONS)[number]; previous: PreviousChoice }
  | { op: 'wait'; days: number };
/** Which earlier token to send as previous, and how honestly. */
type PreviousChoice = { use: 'none' } | { use: 'own' | 'other-account'; pick: number; lie: 'honest' | 'extra' | 'drop' | 'tamper'; extra: string };

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ op: fc.constant('lookup' as const), phone: fc.constantFrom(...ALL_STRINGS), region: fc.constantFrom(...REGIONS) }) },
  {
    weight: 6,
    arbitrary: fc.record({
      op: fc.constant('sync' as const),
      contacts: fc.array(fc.constantFrom(...ALL_STRINGS), { maxLength: 6 }),
      region: fc.constantFrom(...REGIONS),
      previous: fc.oneof(
        fc.constant({ use: 'none' as const }),
        fc.record({
          use: fc.constantFrom('own' as const, 'own' as const, 'own' as const, 'other-account' as const),
          pick: fc.nat(),
          lie: fc.constantFrom('honest' as const, 'honest' as const, 'honest' as const, 'extra' as const, 'drop' as const, 'tamper' as const),
          extra: fc.constantFrom(...ALL_STRINGS),
        }),
      ),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('wait' as const), days: fc.constantFrom(0.05, 1, 45, 100) }) },
);

interface Issued {
  account: string;
  token: string;
  strings: string[];
  /** What the test knows was charged along this token's chain. */
  covers: Set<string>;
}

describeEachDialect('every number answered was charged (property)', (dialect) => {
  let svc: TestService;
  let runs = 0;
  const charged: Array<{ accountId: string; newNumbers: number }> = [];
  const declared: Array<{ kind: 'lookup'; p: PreparedLookup } | { kind: 'sync'; p: PreparedSync }> = [];

  beforeAll(async () => {
    // A budget small enough that refusals happen within a sequence, and a clock that moves.
    const policy = compilePolicy({
      name: 'property',
      tiers: [{ name: 'standard' }],
      layers: [{ id: 'account-new', subject: 'account', cost: 'new', limits: { default: { burst: 12, refill: 12, per: '1d' } } }],
    });
    svc = await startTestService(dialect, {}, { policy });
    for (const [id, e164] of OWNER) {
      const contacts = CONTACTS_MODE[id];
      if (!contacts) {
        await mirrorAccount(svc, id, [{ value: e164, purposes: ['discovery'] }]);
        continue;
      }
      await mirrorAccount(svc, id);
      const res = await svc.app.inject({
        method: 'POST',
        url: `/internal/v1/accounts/${id}/contact-points`,
        headers: svc.internal,
        payload: { kind: 'phone', value: e164, purposes: ['discovery'], verified: true, discoverableBy: 'contacts' },
      });
      expect(res.statusCode).toBe(201);
      const book = await svc.app.inject({ method: 'POST', url: '/v1/discovery/sync', headers: { authorization: `Bearer ${await svc.tokenFor(id)}` }, payload: { contacts: contacts.book } });
      expect(book.statusCode).toBe(200);
    }
    const limits = svc.ctx.limits;
    const check = limits.check.bind(limits);
    vi.spyOn(limits, 'check').mockImplementation(async (req: LimitRequest) => {
      const verdict = await check(req);
      charged.push({ accountId: req.accountId, newNumbers: req.newNumbers });
      return verdict;
    });
    const discovery = svc.ctx.discovery;
    const prepareSync = discovery.prepareSync.bind(discovery);
    vi.spyOn(discovery, 'prepareSync').mockImplementation((id, req) => {
      const p = prepareSync(id, req);
      declared.push({ kind: 'sync', p });
      return p;
    });
    const prepareLookup = discovery.prepareLookup.bind(discovery);
    vi.spyOn(discovery, 'prepareLookup').mockImplementation((req) => {
      const p = prepareLookup(req);
      declared.push({ kind: 'lookup', p });
      return p;
    });
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
        const seed = await post(other, 'sync', { region: 'GB', contacts: ['07400 550003'] });
        if (seed.statusCode === 200) issued.push({ account: other, token: seed.json().token, strings: ['07400 550003'], covers: new Set(['+447400550003']) });

        for (const s of steps) {
          if (s.op === 'wait') {
            svc.clock.advance(s.days * DAY);
            continue;
          }
          charged.length = 0;
          declared.length = 0;
          if (s.op === 'lookup') {
            const res = await post(me, 'lookup', { phone: s.phone, ...(s.region ? { region: s.region } : {}) });
            const match = res.statusCode === 200 ? (res.json().match as { accountId: string } | null) : null;
            if (!match) continue;
            expect(match.accountId).not.toBe('planted-5');
            const value = OWNER.get(match.accountId)!;
            const d = declared.at(-1)!;
            expect(d.kind === 'lookup' && d.p.value).toBe(value);
            expect(charged).toEqual([{ accountId: me, newNumbers: 1 }]);
            continue;
          }
          const prev = choosePrevious(s.previous, issued, me);
          const body = { ...(s.region ? { region: s.region } : {}), contacts: s.contacts, ...(prev ? { previous: { token: prev.token, contacts: prev.strings } } : {}) };
          const res = await post(me, 'sync', body);
          if (res.statusCode !== 200) {
            // Refused calls reveal nothing; a token that does not fit is refused as unknown.
            expect(res.body).not.toMatch(/planted-/);
            if (prev && !prev.honest) expect([400, 429]).toContain(res.statusCode);
            continue;
          }
          // Only an honest previous of the caller's own token is accepted.
          expect(prev === undefined || prev.honest).toBe(true);
          const d = declared.at(-1)!;
          if (d.kind !== 'sync') throw new Error('no sync was prepared');
          const now = new Set(d.p.newValues);
          // The limiter was asked to charge exactly the declared new values, to this account.
          expect(charged).toEqual([{ accountId: me, newNumbers: now.size }]);
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

  async function post(account: string, path: 'lookup' | 'sync', payload: Record<string, unknown>) {
    const jwt = await svc.tokenFor(account);
    return svc.app.inject({ method: 'POST', url: `/v1/discovery/${path}`, headers: { authorization: `Bearer ${jwt}`, 'x-device-id': `dev-${account}` }, payload });
  }
});

function choosePrevious(c: PreviousChoice, issued: Issued[], me: string): { token: string; strings: string[]; issued: Issued; honest: boolean } | undefined {
  if (c.use === 'none') return undefined;
  const pool = issued.filter((t) => (c.use === 'own' ? t.account === me : t.account !== me));
  if (pool.length === 0) return undefined;
  const t = pool[c.pick % pool.length]!;
  const honest = c.use === 'own' && c.lie === 'honest';
  switch (c.lie) {
    case 'honest':
      return { token: t.token, strings: t.strings, issued: t, honest };
    case 'extra':
      // An extra string already in the set changes nothing: the set is what the token binds.
      return { token: t.token, strings: [...t.strings, c.extra], issued: t, honest: honest || (c.use === 'own' && t.strings.includes(c.extra)) };
    case 'drop':
      return { token: t.token, strings: t.strings.slice(1), issued: t, honest: c.use === 'own' && new Set(t.strings.slice(1)).size === new Set(t.strings).size };
    case 'tamper': {
      const raw = Buffer.from(t.token, 'base64url');
      raw[raw.length - 1] = raw[raw.length - 1]! ^ 0x40;
      return { token: raw.toString('base64url'), strings: t.strings, issued: t, honest: false };
    }
  }
}
