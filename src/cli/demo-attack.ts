import type { App } from '../app.js';
import type { JwtConfig } from '../config/config.js';
import type { AppContext } from '../context.js';
import { signDevToken } from '../http/auth/jwt.js';
import { IpSampler, loadIpIntel } from '../net/index.js';
import { Population } from '../population/index.js';
import type { ManualClock } from '../util/clock.js';
import { SeededRandom } from '../util/random.js';
import type { DemoRecord } from './seeding.js';

/**
 * The demo's replayed attack: a small network of aged fake accounts, signed up over the past
 * weeks from a few shared phones on two home subnets, sweeping the demo population's number blocks
 * together. Everything goes through findguard's real path (sign-ups through the internal API reach
 * the abuse engine; every scan is a discovery sync through the gate, charged by the limits and
 * recorded as events the engine reads), on a clock that replays the weeks in seconds and stops
 * before the present: what the console then shows (the campaign, its graph, its exposures, the
 * decisions) is what findguard itself concluded. Nothing is inserted by hand.
 *
 * The fleet acts as the 2019 network did: it walks the number space of every country the platform
 * serves, one block per round, every account working the same block in the same round (the range
 * split between the accounts), one round every 5 minutes for up to four hours. That is the
 * evidence the engine is built for: accounts in step on the same blocks, on shared phones and
 * addresses, asking for numbers far from their own country; the default policy (thresholds
 * untouched) suspends every fake account, typically within its first rounds. An earlier version
 * scanned random numbers of the home country for 40 minutes: its three phone groups scored
 * 0.71-0.74, under the 0.75 bar for a whole cluster, and only 6 of 24 accounts were stopped. The
 * bar stays where organic users need it; the demo attack now looks like the real one.
 */

export const DEMO_ATTACK_KEY = 'demo-attack';

export interface DemoAttackRecord {
  /** Simulated time of the attack's first scan and of its last call. */
  startedAt: number;
  endedAt: number;
  accounts: number;
  calls: number;
  answered: number;
  refused: number;
  /** Numbers revealed to the attacker (matches in answered syncs). */
  revealed: number;
  /** Accounts told they are suspended (403): each stops at that call, which records no event. */
  stopped: number;
}

/** The attack's shape. Small enough to replay in seconds at every first `npm start`. */
export const DEMO_ATTACK = {
  seed: 0xa77ac4,
  accounts: 24,
  /** Accounts per shared phone (device id). */
  perDevice: 8,
  /** Sign-ups spread over these days before the attack: aged accounts, not a burst. */
  signupDays: 28,
  /** Numbers per sync. */
  batch: 40,
  /** Each account syncs once per round, all on the round's block; rounds this far apart (four hours at most). */
  roundMs: 5 * 60_000,
  rounds: 48,
};

const DAY = 86_400_000;

interface Attacker {
  id: string;
  handle: string;
  deviceId: string;
  ip: string;
  createdAt: number;
}

export interface DemoAttackTarget {
  app: App;
  ctx: AppContext;
  clock: ManualClock;
  /** The service key (sign-ups through the internal API) and the JWT config (the fleet's tokens). */
  serviceKey: string;
  jwt: JwtConfig;
}

/**
 * Replays the attack against a service on a manual clock, which the caller has built on the
 * serving database and will close. `endAt` is where the replay stops (the present, at start).
 */
export async function replayDemoAttack(target: DemoAttackTarget, record: DemoRecord, endAt: number): Promise<DemoAttackRecord> {
  const { app, ctx, clock, serviceKey, jwt } = target;
  const population = new Population({ seed: record.seed, accounts: record.accounts, now: record.now });
  const spec = DEMO_ATTACK;
  const rng = new SeededRandom(spec.seed);
  const sampler = new IpSampler(await loadIpIntel(), rng);

  // The scanned country: the demo population's largest; the fleet calls from its home networks.
  const regions = population.regionInfo().sort((a, b) => b.accounts - a.accounts);
  const region = regions[0]!;
  const subnets = [sampler.inCountry(region.region, 'residential'), sampler.inCountry(region.region, 'residential')].map((ip) => ip.split('.').slice(0, 3).join('.'));
  const attackStart = endAt - spec.rounds * spec.roundMs - 30 * 60_000;
  const firstSignup = attackStart - spec.signupDays * DAY;

  const fleet: Attacker[] = Array.from({ length: spec.accounts }, (_, i) => ({
    id: `demo-scraper-${String(i + 1).padStart(2, '0')}`,
    handle: `user${String(rng.int(1_000_000)).padStart(6, '0')}`,
    deviceId: `demo-phone-${Math.floor(i / spec.perDevice) + 1}`,
    // One address per phone: a phone farm behind a home connection.
    ip: `${subnets[Math.floor(i / spec.perDevice) % subnets.length]}.${20 + Math.floor(i / spec.perDevice)}`,
    createdAt: firstSignup + Math.floor((i * spec.signupDays * DAY) / spec.accounts) + rng.int(3_600_000),
  }));

  const service = { authorization: `Bearer ${serviceKey}` };
  for (const a of fleet) {
    clock.set(Math.max(clock.now(), a.createdAt));
    const res = await app.inject({
      method: 'PUT',
      url: `/internal/v1/accounts/${a.id}`,
      headers: service,
      payload: { handle: a.handle, createdAt: new Date(a.createdAt).toISOString(), phoneRegion: region.region, signup: { ip: a.ip, deviceId: a.deviceId, userAgent: 'okhttp/4.9.3' } },
    });
    if (res.statusCode >= 300) throw new Error(`demo attack: creating ${a.id} answered ${res.statusCode}`);
    await ctx.events.flush();
  }

  // The sweep: each round the whole fleet works one block, each account a random slice of it (a
  // batch of consecutive numbers is refused at once as a scan, which would leave nothing to show),
  // then moves on together to the next block, of the next country.
  // The platform's whole number space, as the 2019 attacker walked country after country's ranges.
  const sweep = population.blocks().sort();
  const draw = (round: number): string => sweep[round % sweep.length]! + String(rng.int(10_000)).padStart(4, '0');
  const tokens = new Map<string, string>();
  const stopped = new Set<string>();
  const out: DemoAttackRecord = { startedAt: attackStart, endedAt: attackStart, accounts: fleet.length, calls: 0, answered: 0, refused: 0, revealed: 0, stopped: 0 };
  const ttl = Math.ceil((endAt - clock.now()) / 1000) + 3600;
  for (let round = 0; round < spec.rounds && stopped.size < fleet.length; round++) {
    for (const [k, a] of fleet.entries()) {
      if (stopped.has(a.id)) continue;
      clock.set(attackStart + round * spec.roundMs + Math.floor((k * spec.roundMs) / fleet.length / 4));
      let token = tokens.get(a.id);
      if (!token) {
        token = await signDevToken(jwt, a.id, clock.now(), ttl);
        tokens.set(a.id, token);
      }
      const contacts = [...new Set(Array.from({ length: spec.batch }, () => draw(round)))];
      const res = await app.inject({
        method: 'POST',
        url: '/v1/discovery/sync',
        remoteAddress: a.ip,
        headers: { authorization: `Bearer ${token}`, 'x-device-id': a.deviceId },
        payload: { region: region.region, contacts },
      });
      out.calls++;
      out.endedAt = clock.now();
      if (res.statusCode === 200) {
        out.answered++;
        out.revealed += (res.json() as { matches: unknown[] }).matches.length;
      } else {
        out.refused++;
        // Suspended (403) or signed out (401): this account is done; refused for now: next round.
        if (res.statusCode === 403 || res.statusCode === 401) stopped.add(a.id);
        out.stopped = stopped.size;
      }
      await ctx.events.flush();
    }
  }
  // The engine evaluates once a minute of event time: let the last minute's evaluation happen.
  clock.set(Math.min(endAt, out.endedAt + 5 * 60_000));
  await ctx.events.flush();
  return out;
}
