import type { FindguardClient } from '../client/index.js';
import { attempt, type Actor, type SimContext } from './engine.js';
import { buildFleet, hashName, nextGap, populationIndex, scheduleSignUp, type FleetAccount } from './fleet.js';
import type { AttackerTally } from './metrics.js';
import type { AttackerSpec } from './scenario.js';
import { normal, rngFor } from './world.js';

type ScanSpec = Extract<AttackerSpec, { kind: 'range-scan' | 'random-scan' | 'list' }>;
const DAY = 86_400_000;

/**
 * Attackers that work through a list of numbers: consecutive ranges of number blocks (Twitter
 * 2019), random valid numbers in maximal syncs (Facebook's importer), or a leaked list split
 * across aged accounts (and, with one account and single lookups, a patient targeted attacker).
 * The list is split into contiguous slices, one per fake account.
 */
export class ListAttacker implements Actor {
  constructor(private readonly spec: ScanSpec) {}

  plan(ctx: SimContext): void {
    const spec = this.spec;
    const tally = ctx.recorder.attacker(spec.name, spec.kind === 'list' ? (spec.singleLookups ? 'targeted' : 'leaked-list') : spec.kind);
    const numbers = this.numbers(ctx);
    const agedYears = spec.kind === 'list' && spec.aged ? 3 : 0;
    const work = spec.kind === 'list' && spec.byCountry ? this.splitByCountry(ctx, spec, tally, numbers, agedYears) : this.split(ctx, tally, numbers, agedYears);
    // The targets are what the fleet asks: a country no account was placed in goes unasked.
    let listed = 0;
    for (const [, slice] of work) {
      listed += slice.length;
      for (const n of slice) {
        const owner = ctx.world.population.ownerOf(n);
        if (owner !== undefined && owner < ctx.world.existing && ctx.world.isDiscoverable(owner)) tally.targets.add(owner);
      }
    }
    tally.extra.listSize = listed;
    const fleet = work.map(([a]) => a);
    for (const [account, slice] of work) {
      if (slice.length === 0) continue;
      scheduleSignUp(ctx, spec, account, () => this.work(ctx, tally, account, slice, 0));
      if ((spec.mutualContacts ?? 0) > 0) this.planSocial(ctx, tally, account, fleet);
    }
  }

  /**
   * Sleepers looking social: after sign-up, and daily until the attack starts, each account syncs
   * the numbers of its fleet-mates (the next mutualContacts accounts, in a ring), who sync it back.
   */
  private planSocial(ctx: SimContext, tally: AttackerTally, account: FleetAccount, fleet: FleetAccount[]): void {
    const spec = this.spec;
    const mates: string[] = [];
    for (let k = 1; k <= Math.min(spec.mutualContacts ?? 0, fleet.length - 1); k++) {
      const phone = fleet[(account.n + k) % fleet.length]!.phone;
      if (phone) mates.push(phone);
    }
    if (mates.length === 0) return;
    const attackStart = ctx.world.start + spec.startDay * DAY;
    const first = Math.max(account.createdAt, ctx.now()) + 3_600_000 + rngFor(hashName(spec.name), account.n, 0x50c).int(3_600_000);
    for (let at = first; at < attackStart; at += DAY) {
      ctx.schedule(at, async () => {
        const client = await ctx.driver.client(account.id, account.conn, spec.hashRate);
        client.resetSync();
        const r = await attempt(() => client.sync(mates));
        tally.extra.socialSyncs = Number(tally.extra.socialSyncs ?? 0) + 1;
        if (!r.outcome.ok) tally.extra.socialSyncsRefused = Number(tally.extra.socialSyncsRefused ?? 0) + 1;
      });
    }
  }

  /** Contiguous slices, one per fake account. */
  private split(ctx: SimContext, tally: AttackerTally, numbers: string[], agedYears: number): Array<[FleetAccount, string[]]> {
    const fleet = buildFleet(ctx, this.spec, tally, agedYears);
    const per = Math.ceil(numbers.length / fleet.length);
    return fleet.map((a) => [a, numbers.slice(a.n * per, (a.n + 1) * per)]);
  }

  /** Accounts placed in the list's countries by their share of it, each with a slice of its own country's numbers. */
  private splitByCountry(ctx: SimContext, spec: ScanSpec, tally: AttackerTally, numbers: string[], agedYears: number): Array<[FleetAccount, string[]]> {
    const byRegion = new Map<string, string[]>();
    for (const n of numbers) {
      const region = ctx.world.population.regionOfNumber(n);
      if (region === undefined) continue;
      const list = byRegion.get(region) ?? [];
      list.push(n);
      byRegion.set(region, list);
    }
    const origins = [...byRegion].map(([country, list]) => ({ country, weight: list.length }));
    const fleet = buildFleet(ctx, { ...spec, origins }, tally, agedYears);
    const out: Array<[FleetAccount, string[]]> = [];
    for (const [region, list] of byRegion) {
      const accounts = fleet.filter((a) => a.country === region);
      const per = Math.ceil(list.length / Math.max(1, accounts.length));
      accounts.forEach((a, i) => out.push([a, list.slice(i * per, (i + 1) * per)]));
    }
    return out;
  }

  private numbers(ctx: SimContext): string[] {
    const spec = this.spec;
    const pop = ctx.world.population;
    const rng = rngFor(ctx.world.spec.seed, hashName(spec.name), 0x11577);
    if (spec.kind === 'range-scan') {
      const blocks = (spec.regions.length > 0 ? spec.regions.flatMap((r) => pop.blocks(r)) : pop.blocks()).slice();
      shuffle(blocks, rng);
      const chosen = blocks.slice(0, Math.max(1, Math.ceil(blocks.length * spec.blockShare))).sort();
      const out: string[] = [];
      for (const b of chosen) for (let s = 0; s < 10_000; s++) out.push(b + String(s).padStart(4, '0'));
      return out;
    }
    const allBlocks = pop.blocks();
    const random = () => allBlocks[rng.int(allBlocks.length)]! + String(rng.int(10_000)).padStart(4, '0');
    if (spec.kind === 'random-scan') return Array.from({ length: spec.numbers }, random);
    const registered = Math.round(spec.listSize * spec.registeredShare);
    const list = Array.from({ length: registered }, () => pop.phoneOf(rng.int(ctx.world.existing)));
    while (list.length < spec.listSize) list.push(random());
    shuffle(list, rng);
    return list;
  }

  private batchSize(rngSeed: number): number {
    const spec = this.spec;
    if (spec.kind !== 'list') return spec.batchSize;
    if (spec.singleLookups) return 1;
    const rng = rngFor(rngSeed);
    return Math.max(1, Math.min(5000, Math.round(spec.batchMedian * Math.exp(0.8 * normal(rng)))));
  }

  private gap(ctx: SimContext, account: FleetAccount, step: number, sliceLength: number): number {
    const spec = this.spec;
    const rng = rngFor(hashName(spec.name), account.n, step);
    if (spec.kind === 'list') {
      // Spread the slice evenly over the days given, as organic-looking sessions.
      const batches = Math.max(1, sliceLength / Math.max(1, spec.singleLookups ? 1 : spec.batchMedian));
      return Math.max(1000, Math.round(((spec.overDays * DAY) / batches) * (0.5 + rng.float())));
    }
    return nextGap(spec, rng);
  }

  private async work(ctx: SimContext, tally: AttackerTally, account: FleetAccount, slice: string[], offset: number, step = 0): Promise<void> {
    if (offset >= slice.length) return;
    const size = this.batchSize(hashName(this.spec.name) ^ (account.n * 7919 + step));
    const batch = slice.slice(offset, offset + size);
    const client = await ctx.driver.client(account.id, account.conn, this.spec.hashRate);
    const r = await attempt(() => this.query(client, batch));
    // Proof-of-work the call needed: the account was busy hashing for that long (pow.ts).
    const hashing = ctx.driver.work.takeDelay(account.id);
    const revealed: number[] = [];
    for (const id of r.value ?? []) {
      const idx = populationIndex(id);
      if (idx !== undefined) revealed.push(idx);
    }
    ctx.recorder.attackerResponse(tally, ctx.now(), account.id, batch.length, r.outcome, revealed);
    if (!r.outcome.ok) {
      // Suspended accounts are done; rate-limited ones wait as told and try the same batch again.
      if (r.outcome.status === 403 || r.outcome.status === 401) return;
      const wait = Math.max(1000, (r.retryAfter ?? 60) * 1000);
      ctx.schedule(ctx.now() + hashing + wait, () => this.work(ctx, tally, account, slice, offset, step + 1));
      return;
    }
    ctx.schedule(ctx.now() + hashing + this.gap(ctx, account, step, slice.length), () => this.work(ctx, tally, account, slice, offset + batch.length, step + 1));
  }

  private async query(client: FindguardClient, batch: string[]): Promise<string[]> {
    if (batch.length === 1 && this.spec.kind === 'list' && this.spec.singleLookups) {
      const { match } = await client.lookup({ phone: batch[0]! });
      return match ? [match.accountId] : [];
    }
    // A scraper gains nothing from tokens: every batch is new numbers, sent without previous.
    client.resetSync();
    const result = await client.sync(batch);
    return result.matches.map((m) => m.accountId);
  }
}

function shuffle<T>(a: T[], rng: { int(n: number): number }): void {
  for (let i = a.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
}
