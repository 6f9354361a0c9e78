import { SeededRandom } from '../util/random.js';
import { blocksOf, type LookupEvent } from './events.js';
import type { SignupEvent } from './signup.js';

/**
 * Crafted traffic for the abuse engine's tests and benchmarks: people and fake accounts as
 * personas, calls as lookup events built the way the routes build them (numbers reduced to
 * number blocks). Deterministic from a seed. Numbers only need the E.164 shape here.
 */

export const HOUR = 3_600_000;
export const DAY = 86_400_000;
export const T0 = Date.parse('2026-03-02T00:00:00Z');

export interface Persona {
  accountId: string;
  createdAt: number;
  phoneRegion: string;
  ip: string;
  subnet: string;
  asn: number;
  country: string;
  network: 'hosting' | 'other';
  deviceId?: string;
}

/** Number blocks of a country: `count` consecutive blocks after a prefix ("+1415" -> "+1415200"...). */
export function blocksFor(prefix: string, first: number, count: number, width = 3): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}${String(first + i).padStart(width, '0')}`);
}

export const US_BLOCKS = blocksFor('+1415', 200, 40);
export const GB_BLOCKS = blocksFor('+447700', 900, 20);
export const IR_BLOCKS = blocksFor('+98912', 100, 20);
export const IN_BLOCKS = blocksFor('+919810', 10, 30, 2);

export function numberIn(block: string, suffix: number): string {
  return block + String(suffix % 10_000).padStart(4, '0');
}

/** `count` consecutive numbers from `start` within the blocks' concatenated range (a range scan's slice). */
export function consecutive(blocks: readonly string[], start: number, count: number): string[] {
  const out: string[] = [];
  for (let k = start; k < start + count && k < blocks.length * 10_000; k++) out.push(numberIn(blocks[Math.floor(k / 10_000)]!, k % 10_000));
  return out;
}

export interface CallOptions {
  /** Share of the numbers that matched (allowed calls only). Default 0.3, the population's usual. */
  hitRate?: number;
  outcome?: LookupEvent['outcome'];
  newNumbers?: number;
  operation?: LookupEvent['operation'];
}

export class Traffic {
  readonly rng: SeededRandom;
  private n = 0;

  constructor(seed = 1) {
    this.rng = new SeededRandom(seed);
  }

  /** One discovery call by `p` at `at` asking `numbers`. */
  call(p: Persona, at: number, numbers: readonly string[], o: CallOptions = {}): LookupEvent {
    const distinct = [...new Set(numbers)];
    const outcome = o.outcome ?? 'allowed';
    const matched = outcome === 'allowed' ? Math.round(distinct.length * (o.hitRate ?? 0.3)) : 0;
    return {
      v: 1,
      id: `syn-${String(this.n++).padStart(16, '0')}`,
      at,
      accountId: p.accountId,
      ...(p.deviceId !== undefined ? { deviceId: p.deviceId } : {}),
      ip: p.ip,
      subnet: p.subnet,
      asn: p.asn,
      country: p.country,
      network: p.network,
      operation: o.operation ?? (distinct.length === 1 ? 'lookup' : 'full-sync'),
      outcome,
      ...(outcome === 'refused' ? { scope: 'account' as const } : {}),
      kind: 'phone',
      numbers: distinct.length,
      newNumbers: o.newNumbers ?? distinct.length,
      matched,
      revealed: Array.from({ length: Math.min(matched, 50) }, (_, i) => `revealed-${i}`),
      blocks: blocksOf('phone', distinct),
      accountCreatedAt: p.createdAt,
      phoneRegion: p.phoneRegion,
    };
  }

  signup(p: Persona, at = p.createdAt): SignupEvent {
    return {
      accountId: p.accountId,
      at,
      ip: p.ip,
      subnet: p.subnet,
      asn: p.asn,
      country: p.country,
      network: p.network,
      ...(p.deviceId !== undefined ? { deviceId: p.deviceId } : {}),
    };
  }

  /** `count` random numbers from `blocks`. */
  randomNumbers(blocks: readonly string[], count: number): string[] {
    return Array.from({ length: count }, () => numberIn(blocks[this.rng.int(blocks.length)]!, this.rng.int(10_000)));
  }

  /** A log-normal address book: friends from a shared pool (books overlap), the rest anyone in the region. */
  book(blocks: readonly string[], friends: readonly string[], median = 150): string[] {
    const size = Math.max(5, Math.min(2000, Math.round(median * Math.exp(0.6 * (this.rng.float() * 2 - 1)))));
    const out = new Set<string>();
    while (out.size < size) out.add(this.rng.float() < 0.35 && friends.length > 0 ? friends[this.rng.int(friends.length)]! : this.randomNumbers(blocks, 1)[0]!);
    return [...out];
  }
}

/** An aged person on a carrier network (residential, carrier NAT unless `ip` says otherwise). */
export function person(i: number, over: Partial<Persona> = {}): Persona {
  return {
    accountId: `person-${String(i).padStart(5, '0')}`,
    createdAt: T0 - 400 * DAY + i * 60_000,
    phoneRegion: 'US',
    ip: `100.64.${(i >> 8) & 255}.${i & 255}`,
    subnet: `100.64.${(i >> 8) & 255}.0/24`,
    asn: 7922,
    country: 'US',
    network: 'other',
    deviceId: `phone-${i}`,
    ...over,
  };
}

/** A fake account on a hosting network: `ips` addresses in one /24, devices shared by five. */
export function fake(i: number, createdAt: number, over: Partial<Persona> = {}, ips = 4): Persona {
  const host = 10 + (i % ips);
  return {
    accountId: `fake-${String(i).padStart(5, '0')}`,
    createdAt,
    phoneRegion: 'IR',
    ip: `203.0.113.${host}`,
    subnet: '203.0.113.0/24',
    asn: 64500,
    country: 'NL',
    network: 'hosting',
    deviceId: `farm-dev-${Math.floor(i / 5)}`,
    ...over,
  };
}

/** Crafted traffic: events sorted by time, sign-ups, and who is who. */
export interface Scene {
  events: LookupEvent[];
  signups: SignupEvent[];
  accounts: string[];
}

function scene(events: LookupEvent[], signups: SignupEvent[], accounts: Iterable<string>): Scene {
  events.sort((a, b) => a.at - b.at);
  signups.sort((a, b) => a.at - b.at);
  return { events, signups, accounts: [...new Set(accounts)] };
}

export function merge(...scenes: Scene[]): Scene {
  return scene(scenes.flatMap((s) => s.events), scenes.flatMap((s) => s.signups), scenes.flatMap((s) => s.accounts));
}

/**
 * Ordinary people over `days`: friends whose address books overlap, 300 accounts behind one
 * carrier-NAT address (30 of them signing up during the run), a family of three sharing a phone
 * and syncing together every evening, a traveller, an emigrant whose book is mostly abroad.
 */
export function organicScene(t: Traffic, days = 3, start = T0): Scene {
  const events: LookupEvent[] = [];
  const signups: SignupEvent[] = [];
  const ids: string[] = [];
  const at = (d: number): number => start + d * DAY + t.rng.int(DAY);
  const friendsPool = t.randomNumbers(US_BLOCKS, 300);
  for (let i = 0; i < 60; i++) {
    const p = person(i);
    ids.push(p.accountId);
    events.push(t.call(p, at(t.rng.int(days)), t.book(US_BLOCKS, friendsPool), { hitRate: 0.3 }));
    for (let k = t.rng.int(4); k > 0; k--) events.push(t.call(p, at(t.rng.int(days)), t.randomNumbers(US_BLOCKS, 1 + t.rng.int(3)), { hitRate: 0.3, operation: 'incremental-sync' }));
  }
  const cgnat = { ip: '100.64.200.1', subnet: '100.64.200.0/24' };
  for (let i = 0; i < 300; i++) {
    const fresh = i < 30;
    const p = person(1000 + i, { ...cgnat, ...(fresh ? { createdAt: at(t.rng.int(days)) } : {}) });
    ids.push(p.accountId);
    if (fresh) {
      signups.push(t.signup(p));
      events.push(t.call(p, p.createdAt + 5 * 60_000, t.book(US_BLOCKS, friendsPool, 80), { hitRate: 0.3 }));
    }
    for (let k = 1 + t.rng.int(2); k > 0; k--) events.push(t.call(p, Math.max(p.createdAt, at(t.rng.int(days))), t.randomNumbers(US_BLOCKS, 1), { hitRate: 0.3 }));
  }
  for (let i = 0; i < 3; i++) {
    const p = person(2000 + i, { deviceId: 'family-phone', ip: '100.64.7.7', subnet: '100.64.7.0/24' });
    ids.push(p.accountId);
    for (let d = 0; d < days; d++) events.push(t.call(p, start + d * DAY + 20 * HOUR + i * 60_000, t.randomNumbers(US_BLOCKS, 2), { hitRate: 0.3, operation: 'incremental-sync' }));
  }
  const traveller = person(3000);
  ids.push(traveller.accountId);
  ['US', 'FR', 'TH', 'AE'].forEach((c, i) => events.push(t.call({ ...traveller, country: c, ip: `192.0.2.${10 + i}`, subnet: '192.0.2.0/24', asn: 64496 + i }, start + i * 12 * HOUR, t.randomNumbers(US_BLOCKS, 1))));
  events.push(t.call(traveller, start + HOUR, t.book(US_BLOCKS, friendsPool), { hitRate: 0.3 }));
  const emigrant = person(3001);
  ids.push(emigrant.accountId);
  events.push(t.call(emigrant, start + 2 * HOUR, [...t.randomNumbers(IN_BLOCKS, 140), ...t.randomNumbers(US_BLOCKS, 60)], { hitRate: 0.3 }));
  return scene(events, signups, ids);
}

export interface RangeScanOptions {
  accounts: number;
  start?: number;
  days?: number;
  /** Calls per account per day, all within the same hour for the whole fleet. */
  callsPerDay?: number;
  outcome?: LookupEvent['outcome'];
  /** Numbers per account's slice. */
  slice?: number;
  /** Numbers per call (Twitter's network asked 50). */
  batch?: number;
}

/** Twitter 2019: fresh fake accounts on hosting addresses splitting a consecutive range, in step. */
export function rangeScanScene(t: Traffic, o: RangeScanOptions): Scene {
  const start = o.start ?? T0;
  const events: LookupEvent[] = [];
  const signups: SignupEvent[] = [];
  const ids: string[] = [];
  const slice = o.slice ?? 400;
  const batch = o.batch ?? 50;
  for (let i = 0; i < o.accounts; i++) {
    const p = fake(i, start - DAY - (i % 4) * (DAY / 4));
    ids.push(p.accountId);
    signups.push(t.signup(p));
    let k = i * slice;
    for (let d = 0; d < (o.days ?? 3); d++) {
      for (let c = 0; c < (o.callsPerDay ?? 4); c++) {
        const at = start + d * DAY + 2 * HOUR + (i % 10) * 60_000 + c * 8 * 60_000;
        events.push(t.call(p, at, consecutive(US_BLOCKS, k, batch), { hitRate: 0.1, outcome: o.outcome ?? 'allowed' }));
        if ((o.outcome ?? 'allowed') === 'allowed' && k + batch < (i + 1) * slice) k += batch;
      }
    }
  }
  return scene(events, signups, ids);
}

/** Facebook's importer: maximal books of random valid numbers from everywhere, 10 an hour. */
export function importerScene(t: Traffic, accounts = 2, start = T0): Scene {
  const events: LookupEvent[] = [];
  const ids: string[] = [];
  const everywhere = [...US_BLOCKS, ...GB_BLOCKS, ...IN_BLOCKS, ...IR_BLOCKS];
  for (let i = 0; i < accounts; i++) {
    const p = fake(500 + i, start - 2 * DAY, { accountId: `importer-${i}`, phoneRegion: 'DE', country: 'DE', ip: `198.18.0.${i}`, subnet: '198.18.0.0/24', asn: 64510, deviceId: `importer-dev-${i}` });
    ids.push(p.accountId);
    for (let c = 0; c < 10; c++) events.push(t.call(p, start + c * 6 * 60_000, t.randomNumbers(everywhere, 5000), { hitRate: 0.2 }));
  }
  return scene(events, [], ids);
}

/** A leaked list of real numbers split over aged residential accounts in 3 countries, devices shared by five. */
export function leakedListScene(t: Traffic, accounts = 10, days = 10, start = T0): Scene {
  const events: LookupEvent[] = [];
  const ids: string[] = [];
  const countries = [['US', '+1'], ['GB', '+44'], ['IN', '+91']] as const;
  const list = [...t.randomNumbers(US_BLOCKS, 1000), ...t.randomNumbers(GB_BLOCKS, 1000), ...t.randomNumbers(IN_BLOCKS, 1000), ...t.randomNumbers(IR_BLOCKS, 1000)];
  for (let i = list.length - 1; i > 0; i--) {
    const j = t.rng.int(i + 1);
    [list[i], list[j]] = [list[j]!, list[i]!];
  }
  const per = Math.floor(list.length / accounts);
  for (let i = 0; i < accounts; i++) {
    const [country] = countries[i % 3]!;
    const p = person(5000 + i, {
      accountId: `leak-${i}`,
      createdAt: start - 3 * 365 * DAY,
      phoneRegion: country,
      country,
      ip: `172.20.${i}.${10 + i}`,
      subnet: `172.20.${i}.0/24`,
      asn: 65000 + (i % 3),
      deviceId: `leak-dev-${Math.floor(i / 5)}`,
    });
    ids.push(p.accountId);
    const mine = list.slice(i * per, (i + 1) * per);
    // Four in five registered, as the simulator's leaked list (its discoverable share found): at 0.6,
    // twice the books' 0.3, a few hundred numbers are within the spread of books (detectors/book.ts).
    for (let off = 0; off < mine.length; off += 150) events.push(t.call(p, start + t.rng.int(days * DAY), mine.slice(off, off + 150), { hitRate: 0.8 }));
  }
  return scene(events, [], ids);
}

/** An account farm: sign-ups in one 10-minute burst from three hosting addresses, lookups right after. */
export function farmScene(t: Traffic, accounts = 40, at = T0 + 5 * HOUR, withSignups = true): Scene {
  const events: LookupEvent[] = [];
  const signups: SignupEvent[] = [];
  const ids: string[] = [];
  const everywhere = [...US_BLOCKS, ...GB_BLOCKS, ...IN_BLOCKS];
  for (let i = 0; i < accounts; i++) {
    const p = fake(i, at + t.rng.int(10 * 60_000), {
      accountId: `farm-${String(i).padStart(4, '0')}`,
      phoneRegion: 'VN',
      country: 'VN',
      ip: `198.51.100.${10 + (i % 3)}`,
      subnet: '198.51.100.0/24',
      asn: 64501,
      deviceId: `farm2-dev-${Math.floor(i / 5)}`,
    });
    ids.push(p.accountId);
    if (withSignups) signups.push(t.signup(p));
    for (let k = 0; k < 5; k++) events.push(t.call(p, p.createdAt + 60_000 + k * 20_000, t.randomNumbers(everywhere, 1), { outcome: 'refused' }));
  }
  return scene(events, signups, ids);
}

/** A call whose answer named exactly `revealed` (matched = how many). */
export function naming(t: Traffic, p: Persona, at: number, numbers: number, revealed: string[]): LookupEvent {
  const e = t.call(p, at, t.randomNumbers(US_BLOCKS, numbers), { hitRate: revealed.length / numbers });
  return { ...e, matched: revealed.length, revealed };
}

const idsOf = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);

/**
 * A person whose later answers name friends, not a list: a book of twenty, then fifty-four friends
 * who join the next day (two re-syncs find them), then two circles of people who had the caller in
 * their books and found it first. `k` gives the person, the joiners and the circle phones and
 * addresses of their own. Their ids start with `${caller}-`.
 */
export function friendsScene(t: Traffic, caller: string, k: number, start = T0): Scene {
  const base = 10_000 + k * 200;
  const p = person(base, { accountId: caller, createdAt: start - DAY });
  const calls: LookupEvent[] = [naming(t, p, start, 150, idsOf(`${caller}-old`, 20))];
  const joiners = idsOf(`${caller}-joiner`, 54).map((id, i) => person(base + 1 + i, { accountId: id, createdAt: start + DAY }));
  calls.push(naming(t, p, start + 2 * DAY, 30, joiners.slice(0, 27).map((j) => j.accountId)));
  calls.push(naming(t, p, start + 2 * DAY + 6 * HOUR, 30, joiners.slice(27).map((j) => j.accountId)));
  const circle = idsOf(`${caller}-mutual`, 54).map((id, i) => person(base + 100 + i, { accountId: id }));
  circle.forEach((c, i) => calls.push(naming(t, c, start + 2 * HOUR + i * 60_000, 10, [caller])));
  calls.push(naming(t, p, start + 2 * DAY + 12 * HOUR, 30, circle.slice(0, 27).map((c) => c.accountId)));
  calls.push(naming(t, p, start + 2 * DAY + 18 * HOUR, 30, circle.slice(27).map((c) => c.accountId)));
  return scene(calls, joiners.map((j) => t.signup(j)), [caller, ...joiners.map((j) => j.accountId), ...circle.map((c) => c.accountId)]);
}

/** The same calls as a friendsScene's, naming people who were on the app all along and never found the caller: a list. */
export function listerScene(t: Traffic, accountId = 'lister', start = T0): Scene {
  const p = person(9003, { accountId, createdAt: start - DAY });
  const aged = idsOf(`${accountId}-aged`, 54);
  const calls = [naming(t, p, start, 150, idsOf(`${accountId}-old`, 20)), naming(t, p, start + 2 * DAY, 30, aged.slice(0, 27)), naming(t, p, start + 2 * DAY + 6 * HOUR, 30, aged.slice(27))];
  return scene(calls, [], [accountId]);
}

/** Books of a country where few are on the app yet (a tenth of their numbers): the rate novel answers are judged against. */
export function sparseBooksScene(t: Traffic, start = T0): Scene {
  const people = Array.from({ length: 300 }, (_, i) => person(20_000 + i, { accountId: `book-${i}` }));
  return scene(people.map((p, i) => t.call(p, start + i * 60_000, t.randomNumbers(US_BLOCKS, 200), { hitRate: 0.1 })), [], people.map((p) => p.accountId));
}

/** Feeds a scene to the engine (or anything shaped like it) in time order, sign-ups before calls at the same instant. */
export function play(s: Scene, sink: { observe(e: LookupEvent): unknown; signup(e: SignupEvent): unknown }, until = Number.POSITIVE_INFINITY): void {
  let j = 0;
  for (const e of s.events) {
    if (e.at > until) break;
    while (j < s.signups.length && s.signups[j]!.at <= e.at) sink.signup(s.signups[j++]!);
    sink.observe(e);
  }
  while (j < s.signups.length && s.signups[j]!.at <= until) sink.signup(s.signups[j++]!);
}
