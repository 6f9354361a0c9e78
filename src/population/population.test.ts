import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parsePhoneNumberFromString } from 'libphonenumber-js/max';
import { FeistelPermutation, Population, DEFAULT_COUNTRIES, type SyntheticAccount } from './index.js';
import { SeededRandom } from '../util/random.js';

const NOW = Date.UTC(2025, 5, 1);
const YEAR_MS = 365.25 * 24 * 3600 * 1000;
const N = 200_000;
const pop = new Population({ seed: 7, accounts: N, now: NOW });
const all: SyntheticAccount[] = [...pop.accounts()];

function isMobile(e164: string): { ok: boolean; country: string | undefined } {
  const pn = parsePhoneNumberFromString(e164);
  const type = pn?.getType();
  return { ok: !!pn && pn.isValid() && pn.number === e164 && (type === 'MOBILE' || type === 'FIXED_LINE_OR_MOBILE'), country: pn?.country };
}

function sampleIndices(count: number, max: number, seed: number): number[] {
  const rng = new SeededRandom(seed);
  return Array.from({ length: count }, () => rng.int(max));
}

describe('FeistelPermutation', () => {
  it('is a bijection with a working inverse for any size and key', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5000 }), fc.integer(), (size, key) => {
        const perm = new FeistelPermutation(size, key);
        const seen = new Uint8Array(size);
        for (let x = 0; x < size; x++) {
          const y = perm.forward(x);
          // Plain checks in the hot loop: expect() per element would dominate the runtime.
          if (!(y >= 0 && y < size) || seen[y] === 1 || perm.inverse(y) !== x) return false;
          seen[y] = 1;
        }
        return true;
      }),
      { numRuns: 60 },
    );
  });

  it('round-trips on large domains', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 40 }), fc.integer(), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (size, key, u) => {
        const perm = new FeistelPermutation(size, key);
        const x = Math.floor(u * size);
        expect(perm.inverse(perm.forward(x))).toBe(x);
      }),
    );
  });

  it('rejects values outside the domain', () => {
    const perm = new FeistelPermutation(10, 1);
    expect(() => perm.forward(10)).toThrow(RangeError);
    expect(() => perm.inverse(-1)).toThrow(RangeError);
  });
});

describe('Population', () => {
  it('is deterministic: same options give byte-identical accounts', () => {
    const again = new Population({ seed: 7, accounts: N, now: NOW });
    const idx = [...Array.from({ length: 2000 }, (_, i) => i), ...sampleIndices(2000, N, 1)];
    expect(JSON.stringify(idx.map((i) => again.account(i)))).toBe(JSON.stringify(idx.map((i) => all[i])));
    expect(again.blocks()).toEqual(pop.blocks());
    const other = new Population({ seed: 8, accounts: N, now: NOW });
    expect(other.phoneOf(0) === pop.phoneOf(0) && other.account(1).handle === pop.account(1).handle).toBe(false);
  });

  it('random access agrees with iteration', () => {
    for (const i of sampleIndices(500, N, 2)) {
      expect(pop.account(i)).toEqual(all[i]);
      expect(pop.phoneOf(i)).toBe(all[i]!.contactPoints[0]!.value);
      expect(pop.regionOf(i)).toBe(all[i]!.phoneRegion);
    }
    expect(all.map((a) => a.index)).toEqual(Array.from({ length: N }, (_, i) => i));
    expect(all[123]!.id).toBe('acct-000123');
  });

  it('gives every account a unique phone, and ownerOf inverts phoneOf', () => {
    const phones = new Set<string>();
    let mismatches = 0;
    for (let i = 0; i < N; i++) {
      const phone = pop.phoneOf(i);
      phones.add(phone);
      if (pop.ownerOf(phone) !== i) mismatches++;
      if (pop.regionOfNumber(phone) !== pop.regionOf(i)) mismatches++;
    }
    expect(mismatches).toBe(0);
    expect(phones.size).toBe(N);
  });

  it('ownerOf returns undefined for numbers nobody owns', () => {
    expect(pop.ownerOf('+15555550100')).toBeUndefined();
    expect(pop.ownerOf('garbage')).toBeUndefined();
    expect(pop.ownerOf(`${pop.blocks()[0]}12a4`)).toBeUndefined();
    const block = pop.blocks()[0]!;
    let free = 0;
    let wrong = 0;
    for (let k = 0; k < 10_000; k++) {
      const owner = pop.ownerOf(block + String(k).padStart(4, '0'));
      if (owner === undefined) free++;
      else if (pop.phoneOf(owner) !== block + String(k).padStart(4, '0')) wrong++;
    }
    expect(wrong).toBe(0);
    expect(free).toBeGreaterThan(0);
  });

  it('uses only valid mobile numbers of the account region', () => {
    for (const i of sampleIndices(3000, N, 3)) {
      const phone = pop.phoneOf(i);
      const check = isMobile(phone);
      expect(check.ok, phone).toBe(true);
      expect(check.country).toBe(all[i]!.phoneRegion);
    }
    // Both ends of every block, since a block is kept only if its samples were valid.
    for (const block of pop.blocks()) {
      expect(isMobile(`${block}0000`).ok, block).toBe(true);
      expect(isMobile(`${block}9999`).ok, block).toBe(true);
    }
  });

  it('spreads accounts over the weighted countries', () => {
    const byRegion = new Map<string, number>();
    for (const a of all) byRegion.set(a.phoneRegion, (byRegion.get(a.phoneRegion) ?? 0) + 1);
    expect(byRegion.size).toBeGreaterThanOrEqual(10);
    const total = DEFAULT_COUNTRIES.reduce((s, c) => s + c.weight, 0);
    for (const { region, weight } of DEFAULT_COUNTRIES) {
      expect(Math.abs((byRegion.get(region) ?? 0) / N - weight / total)).toBeLessThan(0.002);
    }
    for (const r of ['US', 'IN', 'BR', 'ID', 'NG', 'GB', 'DE', 'FR', 'MX', 'MY', 'IR', 'IL', 'JP', 'TR']) expect(byRegion.has(r), r).toBe(true);
    // Countries must not come in index runs (index order is creation order).
    const firstThousand = new Set(all.slice(0, 1000).map((a) => a.phoneRegion));
    expect(firstThousand.size).toBeGreaterThanOrEqual(10);
  });

  it('mixes purposes in the configured shares', () => {
    let discoverable = 0;
    let twoFactorOnly = 0;
    let withEmail = 0;
    let emailDiscoverable = 0;
    let suspended = 0;
    let unverifiedDiscovery = 0;
    const emails = new Set<string>();
    let malformed = 0;
    const emailShape = /^[a-z_]+\d+@(mail\.example|inbox\.example|post\.example|example\.com|example\.net|example\.org)$/;
    for (const a of all) {
      const phone = a.contactPoints[0]!;
      if (phone.kind !== 'phone' || a.contactPoints.length > 2) malformed++;
      if (phone.verified && phone.purposes.includes('discovery')) discoverable++;
      else if (phone.verified && phone.purposes.length > 0) twoFactorOnly++;
      if (!phone.verified && phone.purposes.includes('discovery')) unverifiedDiscovery++;
      if (a.status === 'suspended') suspended++;
      const email = a.contactPoints.find((c) => c.kind === 'email');
      if (email) {
        withEmail++;
        if (email.purposes.includes('discovery')) emailDiscoverable++;
        if (!emailShape.test(email.value)) malformed++;
        emails.add(email.value);
      }
    }
    expect(malformed).toBe(0);
    expect(Math.abs(discoverable / N - 0.6)).toBeLessThan(0.01);
    expect(Math.abs(twoFactorOnly / N - 0.15)).toBeLessThan(0.01);
    expect(Math.abs(withEmail / N - 0.3)).toBeLessThan(0.01);
    expect(Math.abs(suspended / N - 0.005)).toBeLessThan(0.0015);
    expect(unverifiedDiscovery).toBeGreaterThan(0);
    expect(emailDiscoverable).toBeGreaterThan(0);
    expect(emails.size).toBe(withEmail);
  });

  it('honours a custom discoverable share and country list', () => {
    const custom = new Population({
      seed: 1,
      accounts: 20_000,
      now: NOW,
      discoverableShare: 0.9,
      countries: [
        { region: 'DE', weight: 1 },
        { region: 'FR', weight: 1 },
        { region: 'JP', weight: 0 },
      ],
    });
    let discoverable = 0;
    const regions = new Set<string>();
    for (const a of custom.accounts()) {
      regions.add(a.phoneRegion);
      const phone = a.contactPoints[0]!;
      if (phone.verified && phone.purposes.includes('discovery')) discoverable++;
    }
    expect(Math.abs(discoverable / 20_000 - 0.9)).toBeLessThan(0.01);
    expect([...regions].sort()).toEqual(['DE', 'FR']);
    expect(custom.blocks('JP')).toEqual([]);
    expect(() => new Population({ seed: 1, accounts: 10, now: NOW, countries: [{ region: 'XX', weight: 1 }] })).toThrow();
    expect(new Population({ seed: 1, accounts: 0, now: NOW }).size).toBe(0);
  });

  it('spreads creation dates over years of growth, all before now, increasing with index', () => {
    const years = new Set<number>();
    let lastYear = 0;
    let firstYear = 0;
    let lastMonth = 0;
    let prev = -Infinity;
    let outOfOrder = 0;
    for (const a of all) {
      if (!(a.createdAt < NOW && a.createdAt >= NOW - 8 * YEAR_MS && a.createdAt >= prev)) outOfOrder++;
      prev = a.createdAt;
      const age = NOW - a.createdAt;
      years.add(Math.floor(age / YEAR_MS));
      if (age < YEAR_MS) lastYear++;
      if (age > 7 * YEAR_MS) firstYear++;
      if (age < 30 * 24 * 3600 * 1000) lastMonth++;
    }
    expect(outOfOrder).toBe(0);
    expect(years.size).toBe(8);
    expect(lastYear).toBeGreaterThan(5 * firstYear);
    expect(lastMonth / N).toBeGreaterThan(0.01);
    expect(lastMonth / N).toBeLessThan(0.08);
  });

  it('gives unique, plausible handles and signup data', () => {
    const handles = new Set(all.map((a) => a.handle));
    expect(handles.size).toBe(N);
    for (const a of all.slice(0, 1000)) {
      expect(a.handle).toMatch(/^[a-z][a-z_]*[1-9]\d*$/);
      expect(a.signup.deviceId).toMatch(/^dev-[0-9a-f]{16}$/);
      expect(a.signup.userAgent.length).toBeGreaterThan(10);
    }
  });

  it('exposes blocks covering every phone, at the requested occupancy', () => {
    const blocks = new Set(pop.blocks());
    let outside = 0;
    for (let i = 0; i < N; i++) if (!blocks.has(pop.phoneOf(i).slice(0, -4))) outside++;
    expect(outside).toBe(0);
    for (const a of all.slice(0, 2000)) expect(pop.blocks(a.phoneRegion)).toContain(a.contactPoints[0]!.value.slice(0, -4));
    for (const info of pop.regionInfo()) {
      expect(info.occupancy).toBeLessThanOrEqual(0.35);
      if (info.accounts > 20_000) expect(info.occupancy).toBeGreaterThan(0.25);
    }
    // A sequential scan of a large region's blocks hits about `occupancy` of the numbers.
    const inBlock = pop.blocks('IN');
    let hits = 0;
    for (let k = 0; k < 10_000; k++) if (pop.ownerOf(inBlock[0]! + String(k).padStart(4, '0')) !== undefined) hits++;
    expect(hits / 10_000).toBeGreaterThan(0.25);
    expect(hits / 10_000).toBeLessThan(0.4);
  });

  it('rejects indices out of range', () => {
    expect(() => pop.account(N)).toThrow(RangeError);
    expect(() => pop.phoneOf(-1)).toThrow(RangeError);
    expect(() => pop.account(1.5)).toThrow(RangeError);
  });
});
