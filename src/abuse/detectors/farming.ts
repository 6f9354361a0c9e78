import { IdleMap } from '../features/idle-map.js';
import { DecayedPair } from '../features/window.js';
import type { InfraKind } from '../features/store.js';
import type { CompiledAbusePolicy } from '../../policy/index.js';
import type { SignupEvent } from '../signup.js';
import { clamp01, explainedLater, fmt, span, type Detector, type Finding, type Observation } from './types.js';

/**
 * Farming: bursts of sign-ups sharing context (LinkedIn clusters registrations by IP and date).
 * Per address, subnet, network and device, sign-ups within `window` are a burst when there are at
 * least `minBurst` of them and `ratio` times what the key usually sees: a carrier network signs up
 * people all day long, a datacentre /24 does not. Bursts on a key accumulate into one group.
 *
 * Until the app mirrors sign-up context, an account's first call within `proxyAge` of its
 * creation stands in for its sign-up (farmed accounts start looking numbers up at once).
 */

export const FARMING = 'farming';

const KIND_WEIGHT: Record<InfraKind, number> = { device: 1, ip: 1, subnet: 0.9, asn: 0.7 };
/** A key needs this much history before its baseline is trusted for networks that are not hosting. */
const WARM_UP_MS = 86_400_000;
const RECENT_MAX = 1024;

interface KeyTrack {
  lastAt: number;
  firstAt: number;
  kind: InfraKind;
  key: string;
  /** Sign-ups within the window, oldest first. */
  recent: Array<{ id: string; at: number; hosting: boolean }>;
  baseline: DecayedPair;
  /** Accounts of every burst on this key, while retained. */
  burst?: Burst;
  /**
   * The same for bursts seen while the key was a consumer address without a day of history (see
   * `track`), kept apart so that a later burst in full does not lend its weight to their accounts.
   */
  coldBurst?: Burst;
}

interface Burst {
  ids: Set<string>;
  from: number;
  to: number;
  peak: number;
  expected: number;
  hostingShare: number;
}

export class FarmingDetector implements Detector {
  readonly name = FARMING;
  private readonly p: CompiledAbusePolicy['farming'];
  private readonly keys: IdleMap<KeyTrack>;
  private readonly seen: IdleMap<{ lastAt: number }>;
  /** The most a burst on a cold consumer address scores (see `track`). */
  private readonly coldCap: number;

  constructor(policy: CompiledAbusePolicy) {
    this.p = policy.farming;
    // Below what would throttle a cluster on this evidence alone, whatever the policy's weights.
    this.coldCap = (0.9 * policy.actions.throttle.score) / Math.max(policy.cluster.weights[FARMING] ?? 0.5, 1e-9);
    const keep = Math.max(this.p.retainMs, this.p.baselineHalfLifeMs);
    this.keys = new IdleMap(keep, policy.features.maxInfraKeys);
    this.seen = new IdleMap(Math.max(this.p.proxyAgeMs * 2, this.p.windowMs), policy.features.maxAccounts);
  }

  observe(obs: Observation): void {
    if (obs.type === 'signup') {
      this.signup(obs.event);
      return;
    }
    const e = obs.event;
    if (this.seen.get(e.accountId) !== undefined || obs.facts.account.signup !== undefined) return;
    if (e.at - e.accountCreatedAt > this.p.proxyAgeMs) return;
    this.signup({
      accountId: e.accountId,
      at: e.accountCreatedAt,
      ip: e.ip,
      subnet: e.subnet,
      ...(e.asn !== undefined ? { asn: e.asn } : {}),
      ...(e.country !== undefined ? { country: e.country } : {}),
      network: e.network,
      ...(e.deviceId !== undefined ? { deviceId: e.deviceId } : {}),
    });
  }

  findings(now: number): Finding[] {
    this.keys.expire(now);
    this.seen.expire(now);
    const out: Finding[] = [];
    for (const t of this.keys.values()) {
      for (const slot of ['burst', 'coldBurst'] as const) {
        const b = t[slot];
        if (!b) continue;
        if (now - b.to > this.p.retainMs) delete t[slot];
        else out.push(this.finding(t, b, slot === 'coldBurst'));
      }
    }
    return out;
  }

  private finding(t: KeyTrack, b: Burst, cold: boolean): Finding {
    const min = this.p.minBurst[t.kind];
    const strength = clamp01(0.5 + 0.25 * Math.log2(b.peak / min));
    const full = KIND_WEIGHT[t.kind] * strength * (b.hostingShare >= 0.5 ? 1 : 0.8);
    const score = cold ? Math.min(full, this.coldCap) : full;
    // Written when read, from the burst's figures as they are now (a burst grows while it lasts).
    const { kind, key } = t;
    const { from, to, peak, expected, hostingShare } = b;
    const members = b.ids.size;
    const windowMs = this.p.windowMs;
    return explainedLater(
      { detector: FARMING, kind: 'group', accountIds: [...b.ids], score, signals: [`signup-burst-${kind}`], infra: [{ kind, key, members }], from, to },
      () =>
        `${fmt(members)} accounts signed up from ${kind} ${key} in bursts of up to ${fmt(peak)} within ${span(windowMs)} ` +
        `(usually ${expected.toFixed(2)}); ${Math.round(hostingShare * 100)}% from hosting networks, between ${new Date(from).toISOString()} and ${new Date(to).toISOString()}` +
        (cold ? '; a consumer address with less than a day of history (carrier NAT), so not enough alone to act on' : ''),
    );
  }

  private signup(s: SignupEvent): void {
    if (this.seen.get(s.accountId) !== undefined) return;
    this.seen.insert(s.accountId, { lastAt: s.at });
    const hosting = s.network !== undefined && s.network !== 'other';
    this.track('ip', s.ip, s.accountId, s.at, hosting);
    this.track('subnet', s.subnet, s.accountId, s.at, hosting);
    if (s.asn !== undefined) this.track('asn', String(s.asn), s.accountId, s.at, hosting);
    if (s.deviceId !== undefined) this.track('device', s.deviceId, s.accountId, s.at, hosting);
  }

  /**
   * Sign-ups the key usually sees in a window, the current burst left out: its decayed count over
   * the decayed length of its history. A young key's history counts as a full day, so a brand-new
   * datacentre range has a background of nothing rather than of itself.
   */
  private usual(t: KeyTrack, at: number, inWindow: number): number {
    const h = this.p.baselineHalfLifeMs;
    const elapsed = Math.max(at - t.firstAt, WARM_UP_MS);
    const effective = (h / Math.LN2) * (1 - Math.pow(2, -elapsed / h));
    return (Math.max(0, t.baseline.x(at) - inWindow) / effective) * this.p.windowMs;
  }

  private track(kind: InfraKind, key: string, id: string, at: number, hosting: boolean): void {
    const k = `${kind}\u0000${key}`;
    const t =
      this.keys.touch(k, at) ??
      this.keys.insert(k, { lastAt: at, firstAt: at, kind, key, recent: [], baseline: new DecayedPair(this.p.baselineHalfLifeMs) });
    if (at < t.firstAt) t.firstAt = at;
    t.baseline.add(at, 1, 0);
    // Stand-in sign-ups arrive with their account's creation time, a little out of order.
    let i = t.recent.length;
    while (i > 0 && t.recent[i - 1]!.at > at) i--;
    t.recent.splice(i, 0, { id, at, hosting });
    const since = t.recent[t.recent.length - 1]!.at - this.p.windowMs;
    while (t.recent.length > 0 && t.recent[0]!.at < since) t.recent.shift();
    // Bounded memory per key; a window with more sign-ups than this is a burst by any measure that matters here.
    if (t.recent.length > RECENT_MAX) t.recent.shift();
    const n = t.recent.length;
    if (n < this.p.minBurst[kind]) return;
    const background = this.usual(t, at, n);
    if (n < this.p.ratio * background) return;
    const hostingShare = t.recent.filter((r) => r.hosting).length / n;
    const warm = at - t.firstAt >= WARM_UP_MS;
    // Wide keys (subnets, networks) of ordinary networks burst for ordinary reasons until their baseline is known.
    if ((kind === 'asn' || kind === 'subnet') && hostingShare < 0.5 && !warm) return;
    // So does a consumer address before it has a baseline: a carrier NAT puts hundreds of people on
    // one, and on launch day they sign up in dozens an hour. Such a burst is still a finding, so it
    // adds to other evidence in a cluster, but it is capped below what acts on it alone; a burst
    // seen once the address is warm (five times what it usually sees) counts in full.
    const cold = kind === 'ip' && hostingShare < 0.5 && !warm;
    const slot = cold ? 'coldBurst' : 'burst';
    const b = t[slot] ?? { ids: new Set<string>(), from: t.recent[0]!.at, to: at, peak: 0, expected: background, hostingShare };
    for (const r of t.recent) b.ids.add(r.id);
    b.from = Math.min(b.from, t.recent[0]!.at);
    b.to = Math.max(b.to, at);
    b.peak = Math.max(b.peak, n);
    b.expected = background;
    b.hostingShare = hostingShare;
    t[slot] = b;
  }
}
