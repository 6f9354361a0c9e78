/**
 * Phone-number normalisation for the discovery hot path.
 *
 * Library: libphonenumber-js with the "max" metadata flavour, because "min"
 * metadata only checks the general national-number pattern for most countries
 * (it accepts numbers in unallocated ranges), and we only accept numbers that
 * the library says are VALID (any type: mobile, fixed line, VoIP, ...).
 *
 * WHY THE FAST PATH EXISTS: a full libphonenumber-js parse + isValid() of an
 * already-E.164 number runs at only ~85k-120k numbers/s on one core here (max
 * metadata; ~37k/s was measured on a slower reference box) because the library
 * re-compiles every metadata regex with `new RegExp()` on every call. The
 * contact-sync endpoint must sustain >= 150k numbers/s END TO END (HMAC and DB
 * included) and ~80% of its input is already E.164, so normalisation of E.164
 * must run at well over 500k/s. The fast path compiles, lazily and once per
 * calling code, the very same regexes (national-number pattern, per-type
 * patterns and possible lengths, leading digits, national-prefix-for-parsing)
 * from the library's own metadata and replays the library's decision procedure
 * for "+<digits>" input: calling-code extraction, national-prefix stripping,
 * country selection for shared calling codes (+1, +7, +44, ...), type
 * validation. Measured (bench/phone-libs.ts): ~3.2M E.164 numbers/s, ~30x the
 * library. phone.test.ts property-tests that it agrees exactly with the
 * library's own parse + isValid() on E.164-shaped input. No cache is needed.
 *
 * Security: nothing here logs, and nothing throws with the input in a message.
 */
import {
  Metadata,
  parsePhoneNumberFromString,
  type CountryCode,
  type MetadataJson,
} from 'libphonenumber-js/core';
import metadataJson from 'libphonenumber-js/metadata.max.json';

export type PhoneResult = { ok: true; e164: string } | { ok: false; code: 'invalid_phone' };

const INVALID: PhoneResult = Object.freeze({ ok: false, code: 'invalid_phone' }) as PhoneResult;
const MAX_INPUT_LENGTH = 64;
/** Strict E.164: "+", a non-zero digit, then 6..14 more digits (7..15 digits in total). */
const STRICT_E164 = /^\+[1-9]\d{6,14}$/;
// From libphonenumber-js constants: national (significant) number length bounds.
const MIN_LENGTH_FOR_NSN = 2;
const MAX_LENGTH_FOR_NSN = 17;
/**
 * Characters accepted in a non-E.164 phone number after trimming: an optional
 * leading plus, digits (ASCII, full-width, Arabic-Indic, Eastern Arabic-Indic,
 * which the library understands) and the library's punctuation/whitespace set.
 * Letters are rejected: no extensions ("ext. 12"), vanity numbers or "tel:" URIs.
 */
const ALLOWED_INPUT =
  /^[+\uFF0B]?[0-9\uFF10-\uFF19\u0660-\u0669\u06F0-\u06F9 \u00A0\u00AD\u200B\u2060\u3000\-\u2010-\u2015\u2212\u30FC\uFF0D/\uFF0F.\uFF0E()\uFF08\uFF09[\]\uFF3B\uFF3D~\u2053\u223C\uFF5E]+$/;

/** ASCII punctuation and whitespace removed before trying the fast path on "+..." input. */
const COMPACTABLE = /[ \u00A0\-.()/]/g;

// ---------------------------------------------------------------------------
// libphonenumber-js Metadata class: the runtime object has a richer (public but
// untyped) API than its .d.ts declares. These are the methods we use.
interface LibType {
  pattern(): string;
  possibleLengths(): number[] | undefined;
}
interface LibPlan {
  nationalNumberPattern(): string;
  possibleLengths(): number[] | undefined;
  nationalPrefixForParsing(): string | undefined;
  nationalPrefixTransformRule(): string | undefined;
  leadingDigits(): string | undefined;
  hasTypes(): boolean;
  type(type: string): LibType | undefined;
}
interface LibMetadata {
  numberingPlan?: LibPlan;
  selectNumberingPlan(countryOrCallingCode: string): unknown;
  hasCountry(country: string): boolean;
  hasCallingCode(callingCode: string): boolean | undefined;
  getCountryCodesForCallingCode(callingCode: string): string[] | undefined;
}

const META = metadataJson as MetadataJson;
const lib = new Metadata(META) as unknown as LibMetadata;

// The types getNumberType() tries, in its order (validity = any one matches).
const TYPES = [
  'FIXED_LINE', 'MOBILE', 'PREMIUM_RATE', 'TOLL_FREE', 'SHARED_COST',
  'VOIP', 'PERSONAL_NUMBER', 'PAGER', 'UAN', 'VOICEMAIL',
] as const;

/** Compiled validation rules of one numbering plan (a country or a non-geographic entity). */
interface PlanRules {
  /** `^(?:nationalNumberPattern)$` */
  readonly nnp: RegExp;
  /** Index = national number length; the combined "NNP and some type of that length" regex, or null. */
  readonly byLength: readonly (RegExp | null)[];
  readonly lengths: readonly number[] | undefined;
  /** `^(?:leadingDigits)` (only for some countries sharing a calling code). */
  readonly leadingDigits: RegExp | undefined;
  /** The plan's region; undefined for a non-geographic entity (+800, +882, ...). */
  readonly region: string | undefined;
}

/** Compiled rules for one country calling code. */
interface CallingCodeRules {
  readonly cc: string;
  /** The plan the library selects for the bare calling code (the "main" country, or non-geographic). */
  readonly main: PlanRules;
  /** Countries sharing this calling code, in metadata order; undefined if fewer than two. */
  readonly countries: readonly PlanRules[] | undefined;
  /** `^(?:nationalPrefixForParsing)` of the main plan. */
  readonly npfp: RegExp | undefined;
  readonly transform: string | undefined;
}

function compilePlan(plan: LibPlan, region: string | undefined): PlanRules {
  const nnpSrc = plan.nationalNumberPattern();
  const nnp = new RegExp(`^(?:${nnpSrc})$`);
  const byLength: (RegExp | null)[] = [];
  if (!plan.hasTypes()) {
    // Library: "better than nothing" — national number pattern only (never the case with max metadata).
    for (let len = 0; len <= MAX_LENGTH_FOR_NSN; len++) byLength.push(nnp);
  } else {
    const types: { src: string; lengths: number[] | undefined }[] = [];
    for (const name of TYPES) {
      const t = plan.type(name);
      const src = t?.pattern();
      if (t && src) types.push({ src, lengths: t.possibleLengths() });
    }
    const cache = new Map<string, RegExp>();
    for (let len = 0; len <= MAX_LENGTH_FOR_NSN; len++) {
      const srcs = types.filter((t) => !t.lengths || t.lengths.includes(len)).map((t) => `(?:${t.src})`);
      if (srcs.length === 0) {
        byLength.push(null);
        continue;
      }
      const key = srcs.join('|');
      let re = cache.get(key);
      if (!re) {
        // Valid <=> the whole number matches the national number pattern AND one type pattern.
        re = new RegExp(`^(?=(?:${nnpSrc})$)(?:${key})$`);
        cache.set(key, re);
      }
      byLength.push(re);
    }
  }
  const ld = plan.leadingDigits();
  return { nnp, byLength, lengths: plan.possibleLengths(), leadingDigits: ld ? new RegExp(`^(?:${ld})`) : undefined, region };
}

function selectPlan(countryOrCallingCode: string): LibPlan {
  lib.selectNumberingPlan(countryOrCallingCode);
  const plan = lib.numberingPlan;
  if (!plan) throw new Error('phone: metadata has no numbering plan');
  return plan;
}

function compileCallingCode(cc: string): CallingCodeRules {
  const countryCodes = lib.getCountryCodesForCallingCode(cc);
  const mainPlan = selectPlan(cc);
  const main = compilePlan(mainPlan, countryCodes?.[0]);
  const npfpSrc = mainPlan.nationalPrefixForParsing();
  let countries: PlanRules[] | undefined;
  if (countryCodes && countryCodes.length > 1) {
    countries = countryCodes.map((c, i) => (i === 0 ? main : compilePlan(selectPlan(c), c)));
  }
  return {
    cc,
    main,
    countries,
    npfp: npfpSrc ? new RegExp(`^(?:${npfpSrc})`) : undefined,
    transform: mainPlan.nationalPrefixTransformRule() || undefined,
  };
}

// Index = numeric calling code (1..999). undefined: not looked at yet; null: unknown calling code.
const rulesByCode: (CallingCodeRules | null | undefined)[] = new Array(1000);

function rulesFor(cc: string, code: number): CallingCodeRules | null {
  let r = rulesByCode[code];
  if (r === undefined) {
    r = lib.hasCallingCode(cc) ? compileCallingCode(cc) : null;
    rulesByCode[code] = r;
  }
  return r;
}

function isValidFor(plan: PlanRules, national: string): boolean {
  const re = plan.byLength[national.length];
  return re != null && re.test(national);
}

/** getCountryByCallingCode(): the plan of the exact country, or undefined if none fits. */
function countryPlan(r: CallingCodeRules, national: string): PlanRules | undefined {
  if (!r.countries) return r.main;
  for (const p of r.countries) {
    if (p.leadingDigits) {
      if (p.leadingDigits.test(national)) return p;
    } else if (isValidFor(p, national)) {
      return p;
    }
  }
  return undefined;
}

/** extractNationalNumber(): strips a national prefix written after the calling code (e.g. "+44 0 20..."). */
function extractNational(r: CallingCodeRules, number: string): string {
  if (!r.npfp) return number;
  const m = r.npfp.exec(number);
  if (m === null) return number;
  const groups = m.length - 1;
  const hasCapturedGroups = groups > 0 && !!m[groups];
  const national =
    r.transform && hasCapturedGroups ? number.replace(r.npfp, r.transform) : number.slice(m[0].length);
  if (national === number) return number;
  if (r.main.nnp.test(number) && !r.main.nnp.test(national)) return number;
  if (r.main.lengths) {
    const lengths = (countryPlan(r, national) ?? r.main).lengths;
    const min = lengths?.[0];
    const max = lengths?.[lengths.length - 1];
    if (lengths && min !== undefined && max !== undefined) {
      const len = national.length;
      // checkNumberLength(): TOO_SHORT and INVALID_LENGTH keep the prefix; TOO_LONG strips it.
      if (len < min || (len <= max && !lengths.includes(len))) return number;
    }
  }
  return national;
}

/**
 * Fast path: normalise + validate a string that is already strict E.164.
 * Agrees with libphonenumber-js (max) `parsePhoneNumber(input).isValid()` / `.number`.
 * Exported for tests and benchmarks; callers should use normalisePhone().
 */
export function normaliseE164(input: string): PhoneResult {
  if (!STRICT_E164.test(input)) return INVALID;
  // Calling codes are prefix-free: the first known 1..3-digit prefix is the calling code.
  let code = 0;
  for (let i = 1; i <= 3; i++) {
    code = code * 10 + (input.charCodeAt(i) - 48);
    const cc = input.slice(1, i + 1);
    const r = rulesFor(cc, code);
    if (r === null) continue;
    const number = input.slice(i + 1);
    const national = extractNational(r, number);
    if (national.length < MIN_LENGTH_FOR_NSN || national.length > MAX_LENGTH_FOR_NSN) return INVALID;
    const plan = countryPlan(r, national) ?? r.main;
    if (!isValidFor(plan, national)) return INVALID;
    if (national === number) return { ok: true, e164: input };
    // Dropping a national prefix written after the calling code ("+49 0164...") can leave fewer
    // digits than E.164 allows; the output must itself be strict E.164 (a fixed point).
    const e164 = `+${cc}${national}`;
    return STRICT_E164.test(e164) ? { ok: true, e164 } : INVALID;
  }
  return INVALID;
}

/**
 * The region of a valid E.164 number as libphonenumber-js resolves it (`parsePhoneNumber().country`),
 * from the same compiled rules as the fast path: a shared calling code (+1, +7, +44) gives the
 * country whose leading digits or patterns the number fits first, in metadata order (+1 613 is CA,
 * +44 7911 1 is GG); a non-geographic number (+800) or an invalid one gives undefined.
 */
export function phoneRegionOf(e164: string): string | undefined {
  if (!STRICT_E164.test(e164)) return undefined;
  let code = 0;
  for (let i = 1; i <= 3; i++) {
    code = code * 10 + (e164.charCodeAt(i) - 48);
    const r = rulesFor(e164.slice(1, i + 1), code);
    if (r === null) continue;
    const national = extractNational(r, e164.slice(i + 1));
    const plan = countryPlan(r, national);
    return plan && isValidFor(plan, national) ? plan.region : undefined;
  }
  return undefined;
}

function toRegion(region: string | undefined): CountryCode | undefined {
  if (region === undefined) return undefined;
  const upper = region.toUpperCase();
  return /^[A-Z]{2}$/.test(upper) && lib.hasCountry(upper) ? (upper as CountryCode) : undefined;
}

/** true when `region` is a region code the library knows (case-insensitive, e.g. "US", "gb"). */
export function isKnownRegion(region: string): boolean {
  return typeof region === 'string' && toRegion(region) !== undefined;
}

/**
 * Normalise a user-supplied phone number to E.164. `region` is an ISO 3166-1 alpha-2
 * default region for numbers without +CC (an unknown region is ignored).
 *
 * - Strict E.164 input takes the compiled fast path.
 * - Anything else (national format, spaces, dashes, parentheses, "00"/IDD prefix,
 *   surrounding whitespace) is parsed by libphonenumber-js with `region`. Without a
 *   region, a leading "00" is read as the international prefix.
 * - Only numbers the library deems VALID are accepted; extensions and letters are
 *   rejected, inputs over 64 characters are rejected, and the output is always strict
 *   E.164 and a fixed point (normalisePhone(out.e164) gives out.e164 back).
 */
export function normalisePhone(input: string, region?: string): PhoneResult {
  if (typeof input !== 'string' || input.length > MAX_INPUT_LENGTH) return INVALID;
  if (STRICT_E164.test(input)) return normaliseE164(input);
  let text = input.trim();
  if (text.length === 0 || !ALLOWED_INPUT.test(text)) return INVALID;
  const defaultCountry = toRegion(region);
  if (defaultCountry === undefined && text.startsWith('00')) text = `+${text.slice(2)}`;
  if (text.charCodeAt(0) === 43 /* + */) {
    // International format with ASCII punctuation ("+44 (0) 20 7946-0958"): the library
    // strips punctuation before parsing, so its compact form takes the fast path too.
    const compact = text.replace(COMPACTABLE, '');
    if (STRICT_E164.test(compact)) return normaliseE164(compact);
  }
  let parsed;
  try {
    parsed = parsePhoneNumberFromString(text, { defaultCountry, extract: false }, META);
  } catch {
    return INVALID; // never propagate: library errors could carry the input
  }
  if (!parsed || parsed.ext || !parsed.isValid()) return INVALID;
  // Canonical form must be strict E.164 and stable under re-normalisation.
  const again = normaliseE164(parsed.number);
  return again.ok && again.e164 === parsed.number ? again : INVALID;
}

/** The "number block" of an E.164 number: the number with its last 4 digits dropped (e.g. +14155550100 -> +1415555). */
export function numberBlock(e164: string): string {
  if (!STRICT_E164.test(e164)) throw new TypeError('numberBlock: expected an E.164 number');
  return e164.slice(0, -4);
}
