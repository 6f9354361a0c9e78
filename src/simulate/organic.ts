import { accountId, discoverBlocks } from '../population/index.js';
import { attempt, type Actor, type SimContext } from './engine.js';
import { organicWithDefaults } from './scenario.js';
import { rngFor } from './world.js';

const DAY = 86_400_000;
const MAX_RETRIES = 3;
/**
 * Share of update syncs that bring a new circle (a new job, a class, a team, a club): NEW_CIRCLE
 * contacts at once, members of it who know each other. The revelation graph (abuse/detectors/
 * revelation.ts) must not take a person's second circle for a list: this is its false-positive test.
 */
const NEW_CIRCLE_SHARE = 0.05;
const NEW_CIRCLE = { min: 5, max: 40 };
/** Token slots per person: one per device (at most 3, see World.devices). */
const SLOTS = 4;

type SyncMode = 'update' | 'reinstall' | 'first';

/**
 * Real people: new users who sign up and sync their address book, existing users who re-sync
 * (with the token from their device's last sync, or, after a reinstall or on a new phone, the
 * whole book without one) or look a friend up, on any of their devices; on launch day, a whole
 * country arriving within days. Only sync tokens are kept between events; books are regenerated
 * from the seed, so a million users cost little memory.
 */
export class OrganicUsers implements Actor {
  /** Per person and device (index * SLOTS + device): the token of its last sync. */
  private readonly tokens = new Map<number, string>();

  plan(ctx: SimContext): void {
    const { world } = ctx;
    const o = organicWithDefaults(world.spec.organic);
    const rng = rngFor(world.spec.seed, 0x0a9);
    // Accounts the generator dates inside the run join then: sign-up, then a first full sync.
    for (let i = world.existing; i < world.size; i++) {
      const at = world.population.account(i).createdAt;
      if (at > world.end) break;
      ctx.schedule(at, () => this.signUp(ctx, i, at, false));
    }
    for (const [i, at] of world.surgeAccounts()) ctx.schedule(at, () => this.signUp(ctx, i, at, true));
    for (let d = 0; d < world.spec.days; d++) {
      const dayStart = world.start + d * DAY;
      const syncs = Math.min(o.maxSyncsPerDay, Math.round(world.existing * o.syncShare));
      for (let k = 0; k < syncs; k++) {
        const i = rng.int(world.existing);
        const device = rng.int(world.devices(i));
        const reinstall = rng.float() < o.reinstallShare;
        if (!world.presentAtStart(i) || world.population.account(i).status !== 'active') continue;
        const slot = i * SLOTS + device;
        // A warm-up sync some time in the week before the run gives the device a token, as if it
        // had synced the book before; it is not counted.
        if (!this.tokens.has(slot)) {
          this.tokens.set(slot, '');
          ctx.schedule(world.start - 1 - rng.int(7 * DAY - 1), () => this.sync(ctx, i, device, 0, 'first', false));
        }
        ctx.schedule(dayStart + rng.int(DAY), () => this.sync(ctx, i, device, d + 1, reinstall ? 'reinstall' : 'update', true));
      }
      const lookups = Math.min(o.maxLookupsPerDay, Math.round(world.existing * o.lookupShare));
      for (let k = 0; k < lookups; k++) {
        const i = rng.int(world.existing);
        if (!world.presentAtStart(i) || world.population.account(i).status !== 'active') continue;
        const n = Math.max(1, Math.round(o.lookupsPerUser));
        for (let j = 0; j < n; j++) ctx.schedule(dayStart + rng.int(DAY), () => this.lookup(ctx, i, d * 1000 + j));
      }
    }
  }

  private async signUp(ctx: SimContext, i: number, at: number, surge: boolean): Promise<void> {
    const a = ctx.world.account(i);
    const conn = ctx.world.home(i);
    await ctx.driver.createAccount({
      id: a.id,
      handle: a.handle,
      createdAt: at,
      phoneRegion: a.phoneRegion,
      // A person's phone passes the app's integrity check: the app says so (the VPN users' first week).
      signup: { ip: conn.ip, deviceId: a.signup.deviceId, userAgent: a.signup.userAgent, attested: true },
      phones: a.contactPoints
        .filter((c) => c.kind === 'phone')
        .map((c) => ({ value: c.value, purposes: c.purposes, verified: c.verified, ...(c.discoverableBy ? { discoverableBy: c.discoverableBy } : {}) })),
    });
    ctx.recorder.organic.newAccounts++;
    if (surge) ctx.recorder.surge.arrived++;
    if (a.status !== 'active') return;
    this.tokens.set(i * SLOTS, '');
    ctx.schedule(ctx.now() + 60_000 + rngFor(i).int(600_000), () => this.sync(ctx, i, 0, 0, 'first', true, 0, surge));
  }

  /**
   * A sync of the user's book from one device: with the device's token only a few numbers added
   * since its last sync are new; a first sync or a reinstall sends the whole book without one.
   */
  private async sync(ctx: SimContext, i: number, device: number, generation: number, mode: SyncMode, counted: boolean, retry = 0, surge = false): Promise<void> {
    const { world } = ctx;
    const region = world.population.regionOf(i);
    const book = world.book(i);
    const conn = world.session(i, generation, device);
    const client = await ctx.driver.client(accountId(i), conn);
    const slot = i * SLOTS + device;
    const token = mode === 'update' ? this.tokens.get(slot) : undefined;
    const added: string[] = [];
    if (token) {
      client.importState({ version: 1, phone: { token, values: book, invalid: [] } });
      added.push(...additions(ctx, i, generation));
    }
    const r = await attempt(() => client.sync([...book, ...added], { region }));
    if (counted) {
      const full = !token;
      ctx.recorder.organicSync(ctx.now(), full ? book.length : added.length, r.outcome, world.profile(i).kind, full);
      if (surge && retry === 0) ctx.recorder.surgeFirstSync(book.length, r.outcome);
      if (surge && r.outcome.ok) ctx.recorder.surge.answered++;
      ctx.recorder.organicActive.add(i);
    }
    if (r.outcome.ok) {
      // The next sync's previous set must be exactly what this one covered; books are regenerated,
      // so only a token over the plain book is kept (the additions are re-sent next time).
      if (!token) this.tokens.set(slot, client.exportState().phone?.token ?? '');
      return;
    }
    if (r.outcome.status === 429 && retry < MAX_RETRIES) {
      ctx.schedule(ctx.now() + (r.retryAfter ?? 60) * 1000, () => this.sync(ctx, i, device, generation, mode, counted, retry + 1, surge));
    }
  }

  private async lookup(ctx: SimContext, i: number, n: number): Promise<void> {
    const { world } = ctx;
    const book = world.book(i);
    const rng = rngFor(world.spec.seed, 0x100c, i, n);
    const phone = book[rng.int(book.length)]!;
    const device = rng.int(world.devices(i));
    const client = await ctx.driver.client(accountId(i), world.session(i, n, device));
    const r = await attempt(() => client.lookup({ phone }, { region: world.population.regionOf(i) }));
    ctx.recorder.organicLookup(ctx.now(), r.outcome);
    ctx.recorder.organicActive.add(i);
  }
}

/**
 * What a person added to their book since the last sync: one to three contacts, most often, and
 * now and then a new circle (NEW_CIRCLE_SHARE). Either way a contact is, with the scenario's
 * memberShare, someone on the app near a point of the person's country (its own position for a
 * friend of friends, a hashed one for a new circle, whose members are near each other, as a
 * book's are), else a number of someone not on the app. Deterministic in (seed, person, generation).
 */
function additions(ctx: SimContext, i: number, generation: number): string[] {
  const { world } = ctx;
  const o = organicWithDefaults(world.spec.organic);
  const pop = world.population;
  const region = pop.regionOf(i);
  const range = pop.regionRange(region);
  const rng = rngFor(world.spec.seed, 0xadd, i, generation);
  const circle = rng.float() < NEW_CIRCLE_SHARE;
  // The one to three contacts keep drawing from the platform's own blocks, as they always did; a
  // circle's people not on the app come from the country's mobile space, as a book's strangers do.
  const blocks = circle ? strangerBlocks(region, pop.blocks(region)) : pop.blocks(region);
  const count = circle ? NEW_CIRCLE.min + rng.int(NEW_CIRCLE.max - NEW_CIRCLE.min + 1) : 1 + rng.int(3);
  const centre = range && circle ? range[0] + rng.int(range[1] - range[0]) : range ? pop.position(i) : 0;
  const out: string[] = [];
  for (let k = 0; k < count; k++) {
    if (range && range[1] - range[0] > 1 && rng.float() < o.memberShare) {
      const [lo, hi] = range;
      // Log-uniform distance, as in a book: mostly close, a long tail.
      const dist = Math.max(1, Math.floor(Math.exp(rng.float() * Math.log(Math.max(2, Math.min(50_000, hi - lo))))));
      let q = centre + (rng.float() < 0.5 ? -dist : dist);
      if (q < lo) q = lo + ((lo - q) % (hi - lo));
      if (q >= hi) q = hi - 1 - ((q - hi) % (hi - lo));
      const friend = pop.indexAt(q);
      if (friend !== i) out.push(pop.phoneOf(friend));
    } else if (blocks.length > 0) {
      out.push(blocks[rng.int(blocks.length)]! + String(rng.int(10_000)).padStart(4, '0'));
    }
  }
  return out;
}

/** The country's mobile blocks strangers' numbers come from (World's strangerBlocks, the same 200). */
const STRANGERS = new Map<string, readonly string[]>();
function strangerBlocks(region: string, own: readonly string[]): readonly string[] {
  let blocks = STRANGERS.get(region);
  if (!blocks) {
    blocks = discoverBlocks(region, Math.max(200, own.length));
    if (blocks.length < own.length) blocks = own;
    STRANGERS.set(region, blocks);
  }
  return blocks;
}
