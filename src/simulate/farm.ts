import { attempt, type Actor, type SimContext } from './engine.js';
import { buildFleet, hashName, populationIndex, scheduleSignUp, type FleetAccount } from './fleet.js';
import type { AttackerTally } from './metrics.js';
import type { AttackerSpec } from './scenario.js';
import { rngFor } from './world.js';

type FarmSpec = Extract<AttackerSpec, { kind: 'account-farm' }>;

/**
 * Mass sign-ups from shared infrastructure (few addresses, shared devices, one user agent per
 * group), in bursts; each farmed account starts looking numbers up right after sign-up. The
 * measure that matters is how many are stopped before their first answer.
 */
export class AccountFarm implements Actor {
  private readonly firstOutcome = new Map<string, boolean>();

  constructor(private readonly spec: FarmSpec) {}

  plan(ctx: SimContext): void {
    const spec = this.spec;
    const tally = ctx.recorder.attacker(spec.name, 'account-farm');
    const fleet = buildFleet(ctx, spec, tally);
    const burstMs = spec.burstMinutes * 60_000;
    const bursts = Math.max(1, Math.ceil((spec.createdOverDays * 86_400_000) / Math.max(burstMs, 1) / 20));
    const start = ctx.world.start + spec.startDay * 86_400_000;
    const blocks = ctx.world.population.blocks();
    for (const a of fleet) {
      const rng = rngFor(hashName(spec.name), a.n);
      const burst = a.n % bursts;
      a.createdAt = start + Math.floor((burst * (spec.createdOverDays * 86_400_000)) / bursts) + rng.int(Math.max(1, burstMs));
      tally.createdAt.set(a.id, a.createdAt);
      const numbers = Array.from({ length: spec.lookupsPerAccount }, () => blocks[rng.int(blocks.length)]! + String(rng.int(10_000)).padStart(4, '0'));
      for (const n of numbers) {
        const owner = ctx.world.population.ownerOf(n);
        if (owner !== undefined && owner < ctx.world.existing && ctx.world.isDiscoverable(owner)) tally.targets.add(owner);
      }
      scheduleSignUp(ctx, { ...spec, startDay: 0 }, a, () => this.lookups(ctx, tally, a, numbers, 0));
    }
  }

  private async lookups(ctx: SimContext, tally: AttackerTally, a: FleetAccount, numbers: string[], k: number): Promise<void> {
    if (k >= numbers.length) return;
    const client = await ctx.driver.client(a.id, a.conn, this.spec.hashRate);
    const r = await attempt(() => client.lookup({ phone: numbers[k]! }));
    const hashing = ctx.driver.work.takeDelay(a.id);
    const idx = r.value?.match ? populationIndex(r.value.match.accountId) : undefined;
    ctx.recorder.attackerResponse(tally, ctx.now(), a.id, 1, r.outcome, idx !== undefined ? [idx] : []);
    if (!this.firstOutcome.has(a.id)) {
      this.firstOutcome.set(a.id, r.outcome.ok);
      const stopped = [...this.firstOutcome.values()].filter((ok) => !ok).length;
      tally.extra.farmed = this.firstOutcome.size;
      tally.extra.stoppedBeforeFirstAnswer = stopped;
    }
    if (!r.outcome.ok && (r.outcome.status === 403 || r.outcome.status === 401)) return;
    const wait = r.outcome.ok ? 2_000 + rngFor(a.n, k).int(20_000) : Math.max(1000, (r.retryAfter ?? 60) * 1000);
    ctx.schedule(ctx.now() + hashing + wait, () => this.lookups(ctx, tally, a, numbers, r.outcome.ok ? k + 1 : k));
  }
}
