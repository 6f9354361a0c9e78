/**
 * Per-account attributes that don't involve numbering: handles, signup devices, creation dates,
 * contact-point purposes. Each function draws from a per-account Random so an account is a pure
 * function of (population keys, index); every function draws a fixed number of values whatever
 * branch it takes, so changing one share doesn't reshuffle unrelated attributes.
 */
import type { Random } from '../util/random.js';
import type { CountryWeight, Purpose, SyntheticContactPoint } from './types.js';

/**
 * Rough shares of a global messaging app's users by phone country. >= 12 countries incl. the ones
 * the abuse rules care about; CA shares +1 with US, which exercises region detection by number.
 */
export const DEFAULT_COUNTRIES: readonly CountryWeight[] = Object.freeze([
  { region: 'IN', weight: 16 },
  { region: 'US', weight: 10 },
  { region: 'BR', weight: 8 },
  { region: 'ID', weight: 7 },
  { region: 'MX', weight: 5 },
  { region: 'NG', weight: 4 },
  { region: 'PH', weight: 4 },
  { region: 'TR', weight: 3.5 },
  { region: 'GB', weight: 3.5 },
  { region: 'DE', weight: 3.5 },
  { region: 'FR', weight: 3 },
  { region: 'IR', weight: 3 },
  { region: 'PK', weight: 3 },
  { region: 'EG', weight: 3 },
  { region: 'JP', weight: 2.5 },
  { region: 'IT', weight: 2.5 },
  { region: 'ES', weight: 2 },
  { region: 'AR', weight: 2 },
  { region: 'MY', weight: 1.5 },
  { region: 'CA', weight: 1.5 },
  { region: 'CO', weight: 1.5 },
  { region: 'IL', weight: 1 },
]);

/** Splits `total` by weight (largest remainder), so counts sum exactly to total and are deterministic. */
export function apportion(total: number, weights: readonly number[]): number[] {
  const sum = weights.reduce((a, w) => a + w, 0);
  if (!(sum > 0)) throw new RangeError('country weights must sum to a positive number');
  const quotas = weights.map((w) => (total * w) / sum);
  const counts = quotas.map(Math.floor);
  let left = total - counts.reduce((a, c) => a + c, 0);
  const order = quotas.map((q, i) => ({ i, frac: q - Math.floor(q) })).sort((a, b) => b.frac - a.frac || a.i - b.i);
  for (let k = 0; left > 0; k = (k + 1) % order.length, left--) counts[order[k]!.i]!++;
  return counts;
}

const YEAR_MS = 365.25 * 24 * 3600 * 1000;
/** Signups per day now vs at launch: steady exponential growth, so most accounts are recent. */
const GROWTH_FACTOR = 25;

/**
 * Creation time of account `index`: the inverse CDF of an exponential growth curve evaluated at
 * (index + jitter) / size, so ids increase with time like an autoincrement key while the density
 * follows the growth (with the defaults ~3% of accounts fall in the last 30 days).
 */
export function creationTime(index: number, size: number, jitter: number, now: number, historyYears: number): number {
  const span = historyYears * YEAR_MS;
  const g = Math.log(GROWTH_FACTOR);
  const u = (index + jitter) / size;
  const t = Math.log1p(u * (GROWTH_FACTOR - 1)) / g; // fraction of the history elapsed at signup
  return Math.min(now - 1, Math.floor(now - span + t * span));
}

// Syllables, not names: handles look plausible without resembling anyone in particular.
const SYLLABLES = ['ma', 'ri', 'ko', 'la', 'ne', 'sa', 'ti', 'yu', 'an', 'el', 'jo', 'ka', 'mi', 'ra', 'so', 'de', 'li', 'na', 'va', 'zo', 'be', 'ha', 'ta', 'lu', 'fe', 'gi', 'no', 'pa', 'ru', 'se'];
const ENDINGS = ['', 'n', 'r', 's', 'l', 'a', 'o', 'i'];

function syllable(rng: Random): string {
  return SYLLABLES[rng.int(SYLLABLES.length)]!;
}

/**
 * A handle ending in `uniqueNo` in decimal. The part before it has no digits, so the trailing
 * digit run identifies uniqueNo and distinct numbers can never give equal handles.
 */
export function makeHandle(rng: Random, uniqueNo: number): string {
  const head = syllable(rng) + syllable(rng);
  const third = syllable(rng);
  const first = rng.float() < 0.3 ? head + third : head;
  const last = syllable(rng) + syllable(rng) + ENDINGS[rng.int(ENDINGS.length)]!;
  const style = rng.int(10);
  const n = String(uniqueNo);
  if (style < 4) return `${first}${last}${n}`;
  if (style < 7) return `${first}_${last}${n}`;
  if (style < 9) return `${first}${n}`;
  return `${first.charAt(0)}${last}${n}`;
}

const ANDROID_MODELS = ['SM-A546B', 'SM-S918B', 'SM-A155F', 'Pixel 7', 'Pixel 8a', 'Redmi Note 12', '23090RA98G', 'moto g54 5G', 'CPH2451', 'V2250', 'Infinix X6833B', 'TECNO KJ5'];
const IPHONE_SCALES = ['2.00', '3.00'];
const DESKTOP_OS = ['Windows NT 10.0; Win64; x64', 'Macintosh; Intel Mac OS X 10_15_7', 'X11; Linux x86_64'];

/**
 * Signup device and user agent. Versions follow the signup date (years since launch), so an old
 * account carries an old app/OS version the way real signup logs do.
 */
export function makeSignup(rng: Random, yearsSinceLaunch: number): { deviceId: string; userAgent: string } {
  const y = Math.max(0, yearsSinceLaunch);
  const platform = rng.float();
  const lag = rng.int(2);
  const model = ANDROID_MODELS[rng.int(ANDROID_MODELS.length)]!;
  const scale = IPHONE_SCALES[rng.int(IPHONE_SCALES.length)]!;
  const desktop = DESKTOP_OS[rng.int(DESKTOP_OS.length)]!;
  const patch = rng.int(6);
  const deviceId = `dev-${rng.bytes(8).toString('hex')}`;
  const app = `${1 + Math.floor(y)}.${Math.floor((y % 1) * 12)}.${patch}`;
  let userAgent: string;
  if (platform < 0.62) {
    userAgent = `FindGuard/${app} (Android ${Math.min(15, 8 + Math.floor(y) - lag)}; ${model})`;
  } else if (platform < 0.88) {
    userAgent = `FindGuard/${app} (iPhone; iOS ${Math.min(18, 11 + Math.floor(y) - lag)}.${patch}; Scale/${scale})`;
  } else {
    const chrome = 60 + Math.floor(y * 9.5) - lag;
    userAgent = `Mozilla/5.0 (${desktop}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/${chrome}.0.0.0 Safari/537.36`;
  }
  return { deviceId, userAgent };
}

export interface ContactShares {
  discoverable: number;
  twoFactorOnly: number;
  email: number;
}

/** Canonical purpose order, so equal purpose sets serialise identically. */
function purposes(twoFactor: boolean, recovery: boolean, discovery: boolean): Purpose[] {
  const out: Purpose[] = [];
  if (twoFactor) out.push('two_factor');
  if (recovery) out.push('recovery');
  if (discovery) out.push('discovery');
  return out;
}

/** The phone's purposes/verification: discoverable, 2FA/recovery only, or present but not discoverable. */
export function makePhonePoint(rng: Random, phone: string, shares: ContactShares): SyntheticContactPoint {
  const v = rng.float();
  const a = rng.float();
  const b = rng.float();
  if (v < shares.discoverable) {
    return { kind: 'phone', value: phone, purposes: purposes(a < 0.35, b < 0.25, true), verified: true };
  }
  if (v < shares.discoverable + shares.twoFactorOnly) {
    // 2FA alone, recovery alone, or both.
    return { kind: 'phone', value: phone, purposes: purposes(a < 0.8, a >= 0.5, false), verified: true };
  }
  // The rest: opted in but never verified (must not be matchable), or kept without any purpose.
  if (a < 0.5) return { kind: 'phone', value: phone, purposes: purposes(false, false, true), verified: false };
  if (a < 0.85) return { kind: 'phone', value: phone, purposes: [], verified: true };
  return { kind: 'phone', value: phone, purposes: purposes(b < 0.5, false, false), verified: false };
}

// Reserved example domains (RFC 2606 / RFC 6761): never deliverable, never a real person's address.
const EMAIL_DOMAINS = ['mail.example', 'inbox.example', 'post.example', 'example.com', 'example.net', 'example.org'];

/** An optional email contact point; its local part is the (unique) handle, so emails are unique too. */
export function makeEmailPoint(rng: Random, handle: string, shares: ContactShares): SyntheticContactPoint | undefined {
  const has = rng.float() < shares.email;
  const domain = EMAIL_DOMAINS[rng.int(EMAIL_DOMAINS.length)]!;
  const verified = rng.float() < 0.85;
  const discovery = rng.float() < 0.25;
  if (!has) return undefined;
  return { kind: 'email', value: `${handle}@${domain}`, purposes: purposes(false, true, discovery), verified };
}
