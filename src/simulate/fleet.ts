import type { SeededRandom } from '../util/random.js';
import type { SimContext } from './engine.js';
import type { AttackerTally } from './metrics.js';
import type { AttackerSpec } from './scenario.js';
import { rngFor, type Connection } from './world.js';

const DAY = 86_400_000;
const USER_AGENTS = ['okhttp/4.9.0', 'Dalvik/2.1.0 (Linux; U; Android 9)', 'python-requests/2.22.0', 'App/5.2.1 (iPhone; iOS 13.2)'];

export interface FleetAccount {
  id: string;
  n: number;
  country: string;
  conn: Connection;
  createdAt: number;
  /** The account's own verified, discoverable phone (ownNumbersDiscoverable). */
  phone?: string;
}

/** Accounts per device id unless the scenario says otherwise: farms share handsets. */
const DEFAULT_ACCOUNTS_PER_DEVICE = 5;

/**
 * The fake accounts of one attacker and the infrastructure behind them: sign-ups spread over
 * days before the attack, each account tied to an origin country (by the scenario's weights), an
 * address from that country's pool of real hosting or residential allocations, and a device
 * shared with a few sibling accounts, as account farms do.
 */
export function buildFleet(ctx: SimContext, spec: AttackerSpec, tally: AttackerTally, agedYears = 0): FleetAccount[] {
  const { world } = ctx;
  const seed = world.spec.seed;
  const rng = rngFor(seed, hashName(spec.name), 0xf1ee7);
  const total = spec.origins.reduce((s, o) => s + o.weight, 0);
  const pools = new Map<string, string[]>();
  const attackStart = world.start + spec.startDay * DAY;
  const fleet: FleetAccount[] = [];
  tally.residential = spec.network === 'residential';
  if (spec.hashRate !== undefined) tally.hashRate = spec.hashRate;
  for (let n = 0; n < spec.accounts; n++) {
    let x = rng.float() * total;
    const origin = spec.origins.find((o) => (x -= o.weight) < 0) ?? spec.origins[spec.origins.length - 1]!;
    let pool = pools.get(origin.country);
    if (!pool) {
      const prng = rngFor(seed, hashName(spec.name), hashName(origin.country));
      pool = Array.from({ length: spec.ipsPerCountry }, () => ctx.ips.inCountry(origin.country, spec.network, 4, prng));
      pools.set(origin.country, pool);
    }
    const ip = pool[rng.int(pool.length)]!;
    const ageRoll = rng.float();
    const createdAt =
      spec.agedDays !== undefined
        ? world.start - Math.floor((1 + ageRoll) * spec.agedDays * DAY)
        : agedYears > 0
          ? world.start - Math.floor((0.5 + ageRoll) * agedYears * 365 * DAY)
          : attackStart - Math.floor(ageRoll * spec.createdOverDays * DAY) - 60_000;
    const perDevice = spec.accountsPerDevice ?? DEFAULT_ACCOUNTS_PER_DEVICE;
    const account: FleetAccount = {
      id: `${spec.name}-${String(n).padStart(5, '0')}`,
      n,
      country: origin.country,
      conn: { ip, deviceId: `${spec.name}-dev-${Math.floor(n / perDevice)}` },
      createdAt,
      ...(spec.ownNumbersDiscoverable ? { phone: world.freshNumber(origin.country, n, hashName(spec.name)) } : {}),
    };
    fleet.push(account);
    tally.accounts.add(account.id);
    tally.createdAt.set(account.id, createdAt);
    tally.ips.add(ip);
    tally.countries.add(origin.country);
  }
  return fleet;
}

/** Mirrors a fake account as the app would at its sign-up (before that, the account does not exist). */
export function scheduleSignUp(ctx: SimContext, spec: AttackerSpec, a: FleetAccount, then: () => Promise<void>): void {
  const at = Math.max(a.createdAt, ctx.now());
  ctx.schedule(at, async () => {
    await ctx.driver.createAccount({
      id: a.id,
      handle: a.id.replace(/[^A-Za-z0-9]/g, '').slice(0, 30),
      createdAt: a.createdAt,
      phoneRegion: a.country,
      signup: { ip: a.conn.ip, deviceId: a.conn.deviceId, userAgent: USER_AGENTS[a.n % USER_AGENTS.length]!, ...(spec.attestedSignups ? { attested: true } : {}) },
      phones: a.phone ? [{ value: a.phone, purposes: ['discovery'], verified: true }] : [],
    });
    const startAt = Math.max(ctx.now(), ctx.world.start + spec.startDay * DAY);
    ctx.schedule(startAt + rngFor(a.n, hashName(spec.name)).int(600_000), then);
  });
}

/** Time to the next request of one account at the spec's rate, with jitter. */
export function nextGap(spec: AttackerSpec, rng: SeededRandom): number {
  const mean = 3_600_000 / spec.requestsPerHour;
  return Math.max(50, Math.round(mean * (0.5 + rng.float())));
}

export function hashName(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

/** Account index behind an id from the population ("acct-000123"), if any. */
export function populationIndex(accountId: string): number | undefined {
  if (!accountId.startsWith('acct-')) return undefined;
  const n = Number(accountId.slice(5));
  return Number.isInteger(n) ? n : undefined;
}
