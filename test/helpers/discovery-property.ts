import fc from 'fast-check';
import { expect, vi } from 'vitest';
import type { PreparedLookup, PreparedSync } from '../../src/discovery/service.js';
import type { LimitRequest } from '../../src/limits/index.js';
import { mirrorAccount } from './fixtures.js';
import type { TestService } from './service.js';

/**
 * The world of the discovery properties (discovery-charges, discovery-outages): planted
 * discoverable numbers in the spellings a client might send, noise, random steps, and earlier
 * tokens replayed honestly or not. Only the test knows each planted account's E.164 number, so
 * "answered" is observed from outside without trusting a normalisation of the test's own.
 */

/** Planted discoverable numbers, each with the spellings a client might send and the regions they need. */
export const PLANTED: Array<{ e164: string; forms: Array<[string, string | undefined]> }> = [
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
export const OWNER = new Map(PLANTED.map((p, i) => [`planted-${i}`, p.e164]));
export const CONTACTS_MODE: Record<string, { book: string[] }> = { 'planted-4': { book: ['+447400550060'] }, 'planted-5': { book: ['+447400550061'] } };
/** Every caller's own verified phone: in planted-4's book, not in planted-5's. */
export const CALLER_PHONE = '+447400550060';

/** Strings that match nothing, or are no number at all, or read differently by region. */
export const NOISE = ['07400 550004', '+447400550099', '(415) 555-2672', '0151 23456780', 'not a number', '', '+', '0', '+0044', '07400 55000', '123', '+33612345678', '06 12 34 56 78'];
export const ALL_STRINGS = [...PLANTED.flatMap((p) => p.forms.map(([s]) => s)), ...NOISE].filter((s) => s.length > 0);
export const REGIONS = [undefined, 'GB', 'US', 'DE', 'FR'] as const;

export type Step =
  | { op: 'lookup'; phone: string; region: (typeof REGIONS)[number] }
  | { op: 'sync'; contacts: string[]; region: (typeof REGIONS)[number]; previous: PreviousChoice }
  | { op: 'wait'; days: number };
/** Which earlier token to send as previous, and how honestly. */
export type PreviousChoice = { use: 'none' } | { use: 'own' | 'other-account'; pick: number; lie: 'honest' | 'extra' | 'drop' | 'tamper'; extra: string };

export const lookupStep: fc.Arbitrary<Step> = fc.record({ op: fc.constant('lookup' as const), phone: fc.constantFrom(...ALL_STRINGS), region: fc.constantFrom(...REGIONS) });
export const syncStep: fc.Arbitrary<Step> = fc.record({
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
});
export const waitStep: fc.Arbitrary<Step> = fc.record({ op: fc.constant('wait' as const), days: fc.constantFrom(0.05, 1, 45, 100) });
export const step: fc.Arbitrary<Step> = fc.oneof({ weight: 2, arbitrary: lookupStep }, { weight: 6, arbitrary: syncStep }, { weight: 1, arbitrary: waitStep });

/**
 * The app erases the caller and mirrors another person under its id, at the same instant (the
 * clock moves only on a wait step), through PUT or the import. The erased holder's tokens are
 * another account's from then on: 'own' never picks them, 'other-account' may, and must be refused.
 * Scaled out, one node may erase and another mirror again.
 */
export const recreateStep = fc.record({ op: fc.constant('recreate' as const), via: fc.constantFrom('put' as const, 'import' as const) });

export async function recreateCaller(node: DiscoveryNode, me: string, via: 'put' | 'import', issued: Issued[], now: number, eraser: DiscoveryNode = node): Promise<void> {
  const erased = await eraser.app.inject({ method: 'DELETE', url: `/internal/v1/accounts/${me}`, headers: eraser.internal });
  expect(erased.statusCode).toBe(204);
  const createdAt = new Date(now - 30 * DAY).toISOString();
  if (via === 'put') await mirrorAccount(node, me, [{ value: CALLER_PHONE, purposes: ['two_factor'] }], { createdAt });
  else {
    const line = { accountId: me, handle: `h_${me.replace(/[^a-z0-9]/gi, '')}`, createdAt, contactPoints: [{ kind: 'phone', value: CALLER_PHONE, purposes: ['two_factor'], verified: true }] };
    const res = await node.app.inject({ method: 'POST', url: '/internal/v1/import', headers: { ...node.internal, 'content-type': 'application/x-ndjson' }, payload: JSON.stringify(line) + '\n' });
    expect(res.json()).toMatchObject({ accounts: 1, failed: 0 });
  }
  for (const t of issued) if (t.account === me) t.account = `${me} (erased)`;
}

export interface Issued {
  account: string;
  token: string;
  strings: string[];
  /** What the test knows was charged along this token's chain. */
  covers: Set<string>;
}


/** What the properties need of a serving node: a TestService, or a scaled-out node with a token signer. */
export type DiscoveryNode = Pick<TestService, 'app' | 'internal' | 'tokenFor' | 'ctx'>;

/** Mirrors the planted accounts; the "my contacts" owners sync their own books. */
export async function plantTargets(svc: DiscoveryNode): Promise<void> {
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
}

export async function postDiscovery(svc: DiscoveryNode, account: string, path: 'lookup' | 'sync', payload: Record<string, unknown>) {
  const jwt = await svc.tokenFor(account);
  return svc.app.inject({ method: 'POST', url: `/v1/discovery/${path}`, headers: { authorization: `Bearer ${jwt}`, 'x-device-id': `dev-${account}` }, payload });
}

export function choosePrevious(c: PreviousChoice, issued: Issued[], me: string): { token: string; strings: string[]; issued: Issued; honest: boolean } | undefined {
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

export interface Observed {
  /** Each call the limiter let through: whom it was asked to charge, for how many new numbers, and whether it charged. */
  asked: Array<{ accountId: string; newNumbers: number; uncharged: boolean }>;
  /** What the discovery service prepared: the values it declares new for a sync, the value of a lookup. */
  declared: Array<{ kind: 'lookup'; p: PreparedLookup } | { kind: 'sync'; p: PreparedSync }>;
}

/** "Charged" is observed where it happens: the limiter's verdicts and the values the service declares new (on several nodes: one `seen` for all). */
export function observeDiscovery(svc: DiscoveryNode, seen: Observed = { asked: [], declared: [] }): Observed {
  const limits = svc.ctx.limits;
  const check = limits.check.bind(limits);
  vi.spyOn(limits, 'check').mockImplementation(async (req: LimitRequest) => {
    const verdict = await check(req);
    seen.asked.push({ accountId: req.accountId, newNumbers: req.newNumbers, uncharged: verdict.uncharged === true });
    return verdict;
  });
  const discovery = svc.ctx.discovery;
  const prepareSync = discovery.prepareSync.bind(discovery);
  vi.spyOn(discovery, 'prepareSync').mockImplementation((id, req) => {
    const p = prepareSync(id, req);
    seen.declared.push({ kind: 'sync', p });
    return p;
  });
  const prepareLookup = discovery.prepareLookup.bind(discovery);
  vi.spyOn(discovery, 'prepareLookup').mockImplementation((req) => {
    const p = prepareLookup(req);
    seen.declared.push({ kind: 'lookup', p });
    return p;
  });
  return seen;
}

const DAY = 86_400_000;

/**
 * A sequence's accounts: the caller `me` (30 days old, its own verified phone in planted-4's
 * book) and another that syncs once, so its token can be replayed by the caller. `mirror` writes
 * the accounts, `seedNode` answers the other's sync (two nodes: a token from either).
 */
export async function startSequence(mirror: DiscoveryNode, seedNode: DiscoveryNode, run: number, now: number): Promise<{ me: string; issued: Issued[] }> {
  const me = `caller-${run}`;
  const other = `other-${run}`;
  const created = { createdAt: new Date(now - 30 * DAY).toISOString() };
  await mirrorAccount(mirror, other, [], created);
  await mirrorAccount(mirror, me, [{ value: CALLER_PHONE, purposes: ['two_factor'] }], created);
  const issued: Issued[] = [];
  const seed = await postDiscovery(seedNode, other, 'sync', { region: 'GB', contacts: ['07400 550003'] });
  if (seed.statusCode === 200) issued.push({ account: other, token: seed.json().token, strings: ['07400 550003'], covers: new Set(['+447400550003']) });
  return { me, issued };
}

export interface CallRules {
  /** Checks the limiter's verdict of an answered call; default: it charged. */
  verdict?: (uncharged: boolean) => void;
  /** What a dishonest previous may be answered; default 400 and 429. */
  refusedWith?: readonly number[];
}

/**
 * One lookup or sync of `me` through `node`, checked against the rule: every number answered was
 * charged to `me`, under the same E.164 value, in this call or along the chain of the token it
 * sent; the limiter was asked to charge exactly the values declared new; only an honest previous
 * of its own token is accepted; a refusal reveals nothing. A call answered uncharged (a store out of
 * reach, failing open) must hand back a token covering no more than the one it came with.
 * Tokens answered are added to `issued` with what they cover.
 */
export async function callAndCheck(node: DiscoveryNode, me: string, s: Exclude<Step, { op: 'wait' }>, issued: Issued[], seen: Observed, rules: CallRules = {}): Promise<void> {
  const verdictOk = rules.verdict ?? ((uncharged: boolean) => expect(uncharged).toBe(false));
  seen.asked.length = 0;
  seen.declared.length = 0;
  if (s.op === 'lookup') {
    const res = await postDiscovery(node, me, 'lookup', { phone: s.phone, ...(s.region ? { region: s.region } : {}) });
    if (res.statusCode !== 200) return void expect(res.body).not.toMatch(/planted-/);
    expect(seen.asked).toHaveLength(1);
    expect(seen.asked[0]).toMatchObject({ accountId: me, newNumbers: 1 });
    verdictOk(seen.asked[0]!.uncharged);
    const match = res.json().match as { accountId: string } | null;
    if (!match) return;
    expect(match.accountId).not.toBe('planted-5');
    const d = seen.declared.at(-1)!;
    expect(d.kind === 'lookup' && d.p.value).toBe(OWNER.get(match.accountId));
    return;
  }
  const prev = choosePrevious(s.previous, issued, me);
  const body = { ...(s.region ? { region: s.region } : {}), contacts: s.contacts, ...(prev ? { previous: { token: prev.token, contacts: prev.strings } } : {}) };
  const res = await postDiscovery(node, me, 'sync', body);
  if (res.statusCode !== 200) {
    expect(res.body).not.toMatch(/planted-/);
    if (prev && !prev.honest) {
      // A token of the caller's erased incarnation passes the token check on a node whose cached
      // status of the caller (a second: discovery/caller-cache.ts) is still that incarnation's; the
      // match reads the caller again and refuses it (401): answered nothing all the same.
      const refused = rules.refusedWith ?? [400, 429];
      expect(prev.issued.account === `${me} (erased)` ? [...refused, 401] : refused).toContain(res.statusCode);
    }
    return;
  }
  expect(prev === undefined || prev.honest).toBe(true);
  const d = seen.declared.at(-1)!;
  if (d.kind !== 'sync') throw new Error('no sync was prepared');
  const now = new Set(d.p.newValues);
  expect(seen.asked).toHaveLength(1);
  expect(seen.asked[0]).toMatchObject({ accountId: me, newNumbers: now.size });
  const { uncharged } = seen.asked[0]!;
  verdictOk(uncharged);
  const before = prev?.issued.covers ?? new Set<string>();
  const json = res.json() as { matches: Array<{ accountId: string }>; previousMatches: Array<{ accountId: string }>; token: string };
  const answered = [...json.matches, ...json.previousMatches];
  for (const m of answered) expect(m.accountId).not.toBe('planted-5');
  if (uncharged) {
    // Answered unpaid (the policy's trade); the token covers only what was paid before.
    if (prev) expect(json.token).toBe(prev.token);
    issued.push({ account: me, token: json.token, strings: prev?.strings ?? [], covers: before });
    return;
  }
  const paid = new Set([...before, ...now]);
  for (const m of answered) expect(paid).toContain(OWNER.get(m.accountId));
  issued.push({ account: me, token: json.token, strings: [...(prev?.strings ?? []), ...s.contacts], covers: paid });
}
