import { accountId } from '../population/index.js';
import { attempt, type Actor, type SimContext } from './engine.js';
import { rngFor } from './world.js';

const DAY = 86_400_000;
const MAX_RETRIES = 3;

/**
 * Real people: new users who sign up and sync their address book, existing users who re-sync
 * (with the token from their last sync) or look a friend up. Only their sync tokens are kept
 * between events; books are regenerated from the seed, so a million users cost little memory.
 */
export class OrganicUsers implements Actor {
  private readonly tokens = new Map<number, string>();

  plan(ctx: SimContext): void {
    const { world } = ctx;
    const o = world.spec.organic;
    const rng = rngFor(world.spec.seed, 0x0a9);
    // Accounts the generator dates inside the run join then: sign-up, then a first full sync.
    for (let i = world.existing; i < world.size; i++) {
      const at = world.population.account(i).createdAt;
      if (at > world.end) break;
      ctx.schedule(at, () => this.signUp(ctx, i));
    }
    for (let d = 0; d < world.spec.days; d++) {
      const dayStart = world.start + d * DAY;
      const syncs = Math.min(o.maxSyncsPerDay, Math.round(world.existing * o.syncShare));
      for (let k = 0; k < syncs; k++) {
        const i = rng.int(world.existing);
        if (world.population.account(i).status !== 'active') continue;
        // A warm-up sync some time in the week before the run gives the user a token, as if they
        // had synced their book before; it is not counted.
        if (!this.tokens.has(i)) {
          this.tokens.set(i, '');
          ctx.schedule(world.start - 1 - rng.int(7 * DAY - 1), () => this.sync(ctx, i, 0, false));
        }
        ctx.schedule(dayStart + rng.int(DAY), () => this.sync(ctx, i, d + 1, true));
      }
      const lookups = Math.min(o.maxLookupsPerDay, Math.round(world.existing * o.lookupShare));
      for (let k = 0; k < lookups; k++) {
        const i = rng.int(world.existing);
        if (world.population.account(i).status !== 'active') continue;
        const n = Math.max(1, Math.round(o.lookupsPerUser));
        for (let j = 0; j < n; j++) ctx.schedule(dayStart + rng.int(DAY), () => this.lookup(ctx, i, d * 1000 + j));
      }
    }
  }

  private async signUp(ctx: SimContext, i: number): Promise<void> {
    const a = ctx.world.population.account(i);
    const conn = ctx.world.home(i);
    await ctx.driver.createAccount({
      id: a.id,
      handle: a.handle,
      createdAt: a.createdAt,
      phoneRegion: a.phoneRegion,
      signup: { ip: conn.ip, deviceId: a.signup.deviceId, userAgent: a.signup.userAgent },
      phones: a.contactPoints.filter((c) => c.kind === 'phone').map((c) => ({ value: c.value, purposes: c.purposes, verified: c.verified })),
    });
    ctx.recorder.organic.newAccounts++;
    if (a.status !== 'active') return;
    this.tokens.set(i, '');
    ctx.schedule(ctx.now() + 60_000 + rngFor(i).int(600_000), () => this.sync(ctx, i, 0, true));
  }

  /** A sync of the user's book; with a token, only a few numbers added since the last one are new. */
  private async sync(ctx: SimContext, i: number, generation: number, counted: boolean, retry = 0): Promise<void> {
    const { world } = ctx;
    const region = world.population.regionOf(i);
    const book = world.book(i);
    const conn = world.session(i, generation);
    const client = await ctx.driver.client(accountId(i), conn);
    const token = this.tokens.get(i);
    const added: string[] = [];
    if (token) {
      client.importState({ version: 1, phone: { token, values: book, invalid: [] } });
      const blocks = world.population.blocks(region);
      const rng = rngFor(world.spec.seed, 0xadd, i, generation);
      for (let k = 1 + rng.int(3); k > 0; k--) added.push(blocks[rng.int(blocks.length)]! + String(rng.int(10_000)).padStart(4, '0'));
    }
    const r = await attempt(() => client.sync([...book, ...added], { region }));
    if (counted) {
      ctx.recorder.organicSync(ctx.now(), token ? added.length : book.length, r.outcome);
      ctx.recorder.organicActive.add(i);
    }
    if (r.outcome.ok) {
      // The next sync's previous set must be exactly what this one covered; books are regenerated,
      // so only a token over the plain book is kept (the additions are re-sent next time).
      if (!token) this.tokens.set(i, client.exportState().phone?.token ?? '');
      return;
    }
    if (r.outcome.status === 429 && retry < MAX_RETRIES) {
      ctx.schedule(ctx.now() + (r.retryAfter ?? 60) * 1000, () => this.sync(ctx, i, generation, counted, retry + 1));
    }
  }

  private async lookup(ctx: SimContext, i: number, n: number): Promise<void> {
    const { world } = ctx;
    const book = world.book(i);
    const rng = rngFor(world.spec.seed, 0x100c, i, n);
    const phone = book[rng.int(book.length)]!;
    const client = await ctx.driver.client(accountId(i), world.session(i, n));
    const r = await attempt(() => client.lookup({ phone }, { region: world.population.regionOf(i) }));
    ctx.recorder.organicLookup(ctx.now(), r.outcome);
    ctx.recorder.organicActive.add(i);
  }
}
