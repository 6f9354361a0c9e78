import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { getExample, getSupportedRegionCodes, type PhoneNumberTypes } from 'awesome-phonenumber';
import {
  getCountries,
  getCountryCallingCode,
  getExampleNumber,
  parsePhoneNumberFromString as libParse,
  type CountryCode,
  type PhoneNumber,
} from 'libphonenumber-js/max';
import examples from 'libphonenumber-js/examples.mobile.json';
import { isKnownRegion, normaliseE164, normalisePhone, numberBlock, phoneRegionOf, type PhoneResult } from './phone.js';

const STRICT_E164 = /^\+[1-9]\d{6,14}$/;
const ok = (e164: string): PhoneResult => ({ ok: true, e164 });
const INVALID: PhoneResult = { ok: false, code: 'invalid_phone' };

/** The reference: libphonenumber-js (max metadata), full parse + isValid(). */
/**
 * The library's answer, under findguard's own rule that an answer is itself strict E.164: the
 * library drops a national prefix written after the calling code even when that leaves fewer than 7
 * digits ("+4901690" -> "+491690"), which findguard refuses (see the test of that below).
 */
function libResult(e164: string): PhoneResult {
  const p = libParse(e164);
  return p && p.isValid() && STRICT_E164.test(p.number) ? ok(p.number) : INVALID;
}

// ---- Valid-number pool: library example numbers with varied last digits, filtered by validity.
const COUNTRIES = getCountries();
const VALID: PhoneNumber[] = [];
for (const country of COUNTRIES) {
  const ex = getExampleNumber(country, examples);
  if (!ex) continue;
  const base = ex.number;
  for (let k = 0; k < 12; k++) {
    const tail = String((k * 7919 + base.length * 31) % 1000).padStart(3, '0');
    const p = libParse(k === 0 ? base : base.slice(0, -3) + tail);
    if (p && p.isValid() && p.country) VALID.push(p);
  }
}

// ---- Seeds for the agreement property: mobile examples + other types (awesome-phonenumber examples).
const SEEDS: string[] = VALID.map((p) => p.number);
const OTHER_TYPES: PhoneNumberTypes[] = ['fixed-line', 'toll-free', 'premium-rate', 'shared-cost', 'voip', 'personal-number', 'pager', 'uan'];
for (const region of getSupportedRegionCodes()) {
  for (const type of OTHER_TYPES) {
    try {
      const ex = getExample(region, type);
      if (ex.valid && STRICT_E164.test(ex.number.e164)) SEEDS.push(ex.number.e164);
    } catch {
      // no example of that type for that region
    }
  }
}
const CALLING_CODES = [...new Set(COUNTRIES.map((c) => getCountryCallingCode(c) as string)), '800', '808', '870', '878', '881', '882', '883', '888', '979'];

const digits = (min: number, max: number) =>
  fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: min, maxLength: max });

/** E.164-shaped strings: uniform, known calling code + random digits, and mutated valid numbers. */
const e164Shaped = fc
  .oneof(
    fc.stringMatching(/^\+[1-9]\d{6,14}$/),
    fc.tuple(fc.constantFrom(...CALLING_CODES), digits(4, 14)).map(([cc, d]) => `+${cc}${d}`),
    // Mutated valid numbers: new last 0..5 digits, sometimes a digit more or less, sometimes a
    // (national-prefix-like) insertion right after the first 1..4 digits.
    fc
      .tuple(
        fc.constantFrom(...SEEDS),
        fc.integer({ min: 0, max: 5 }),
        digits(5, 5),
        fc.constantFrom(0, 0, 0, 0, 0, -1, 1),
        fc.integer({ min: 0, max: 3 }),
        fc.constantFrom('', '', '', '', '', '', '0', '8', '1', '9', '00', '06', '15', '90'),
      )
      .map(([s, k, tail, delta, pos, ins]) => {
        let d = s.slice(1, s.length - k) + tail.slice(0, k);
        d = delta < 0 ? d.slice(0, -1) : delta > 0 ? d + tail[4] : d;
        return `+${d.slice(0, pos + 1)}${ins}${d.slice(pos + 1)}`;
      }),
  )
  .filter((s) => STRICT_E164.test(s));

describe('normalisePhone — E.164 input', () => {
  it.each([
    ['US', '+12015550123'],
    ['US', '+14155550100'],
    ['GB', '+447400123456'],
    ['GB', '+442079460958'],
    ['DE', '+4915123456789'],
    ['DE', '+4930123456'],
    ['FR', '+33612345678'],
    ['FR', '+33142685300'],
    ['IN', '+918123456789'],
    ['BR', '+5511961234567'],
    ['BR', '+551133334444'],
    ['ID', '+62812345678'],
    ['NG', '+2348021234567'],
    ['MY', '+60123456789'],
    ['IR', '+989123456789'],
    ['IL', '+972502345678'],
    ['MX', '+522221234567'],
    ['JP', '+819012345678'],
    ['JP', '+81312345678'],
  ])('%s %s is valid and unchanged', (country, e164) => {
    expect(normalisePhone(e164)).toEqual(ok(e164));
    expect(libParse(e164)?.country).toBe(country);
  });

  it.each([
    ['CA', '+16135550100'],
    ['PR', '+17872345678'],
    ['JE', '+447797712345'],
    ['GG', '+447781123456'],
    ['IM', '+447624123456'],
    ['KZ', '+77710009998'],
    ['RU', '+79123456789'],
    ['SJ', '+4779023456'],
    ['NO', '+4741234567'],
    ['YT', '+262639012345'],
    ['CW', '+59995181234'],
    ['BQ', '+5993181234'],
    ['AX', '+35818123456'],
    ['FI', '+358412345678'],
  ])('shared calling code: %s %s', (country, e164) => {
    expect(normalisePhone(e164)).toEqual(ok(e164));
    expect(libParse(e164)?.country).toBe(country);
  });

  it('strips a national prefix written after the calling code, like the library', () => {
    expect(normalisePhone('+4402079460958')).toEqual(ok('+442079460958'));
    expect(normalisePhone('+789123456789')).toEqual(ok('+79123456789'));
    expect(libResult('+4402079460958')).toEqual(ok('+442079460958'));
  });

  it.each([
    ['+2612123456', '+261202123456'], // MG: 7-digit local number gets the "20" area prefix
    ['+67212345', '+672312345'], // NF: "3" prepended
    ['+378812345', '+3780549812345'], // SM: "0549" prepended
    ['+5401123456789', '+541123456789'], // AR: "0" national prefix stripped
  ])('applies national-prefix transform rules like the library: %s', (input, e164) => {
    expect(normalisePhone(input)).toEqual(ok(e164));
    expect(libResult(input)).toEqual(ok(e164));
    expect(normalisePhone(e164)).toEqual(ok(e164));
  });

  it('accepts non-geographic numbers the library deems valid', () => {
    expect(normalisePhone('+80012345678')).toEqual(libResult('+80012345678'));
  });
});

describe('normalisePhone — national and formatted input', () => {
  it.each([
    ['US', '(201) 555-0123', '+12015550123'],
    ['US', '201.555.0123', '+12015550123'],
    ['GB', '07400 123456', '+447400123456'],
    ['GB', '020 7946 0958', '+442079460958'],
    ['DE', '01512 3456789', '+4915123456789'],
    ['DE', '030/123456', '+4930123456'],
    ['FR', '06 12 34 56 78', '+33612345678'],
    ['IN', '081234 56789', '+918123456789'],
    ['BR', '(11) 96123-4567', '+5511961234567'],
    ['ID', '0812-345-678', '+62812345678'],
    ['NG', '0802 123 4567', '+2348021234567'],
    ['MY', '012-345 6789', '+60123456789'],
    ['IR', '0912 345 6789', '+989123456789'],
    ['IL', '050-234-5678', '+972502345678'],
    ['MX', '222 123 4567', '+522221234567'],
    ['JP', '090-1234-5678', '+819012345678'],
    ['JE', '07797 712345', '+447797712345'],
  ])('%s %s', (region, input, e164) => {
    expect(normalisePhone(input, region)).toEqual(ok(e164));
  });

  it('handles international formats, 00 prefix, whitespace and region case', () => {
    expect(normalisePhone('+44 20 7946 0958')).toEqual(ok('+442079460958'));
    expect(normalisePhone('+44 (0) 20 7946 0958')).toEqual(ok('+442079460958'));
    expect(normalisePhone('00 44 20 7946 0958', 'DE')).toEqual(ok('+442079460958'));
    expect(normalisePhone('0044 20 7946 0958')).toEqual(ok('+442079460958'));
    expect(normalisePhone('011 44 20 7946 0958', 'US')).toEqual(ok('+442079460958'));
    expect(normalisePhone('  +14155550100\n')).toEqual(ok('+14155550100'));
    expect(normalisePhone('\t(415) 555-0100 ', 'us')).toEqual(ok('+14155550100'));
    expect(normalisePhone('+1 415 555 0100', 'GB')).toEqual(ok('+14155550100'));
  });
});

describe('normalisePhone — invalid input', () => {
  it.each([
    ['empty', '', undefined],
    ['blank', '   ', undefined],
    ['letters', 'call me', undefined],
    ['plus only', '+', undefined],
    ['too short', '+1', undefined],
    ['unassigned NANP area code', '+15555550100', undefined],
    ['all zeros', '+10000000000', undefined],
    ['unknown calling code', '+999123456789', undefined],
    ['truncated', '+447400123', undefined],
    ['possible but not valid (unallocated range)', '+912212345678', undefined],
    ['leading zero calling code', '+0441234567', undefined],
    ['double plus', '++14155550100', undefined],
    ['16 digits', '+1415555010012345', undefined],
    ['national without region', '07400 123456', undefined],
    ['national with unknown region', '07400 123456', 'ZZ'],
    ['national with wrong region', '4155550100', 'GB'],
    ['extension', '+1 415 555 0100 ext 12', undefined],
    ['tel: URI', 'tel:+14155550100', undefined],
    ['vanity', '1-800-FLOWERS', 'US'],
    ['embedded in text', 'abc +14155550100 xyz', undefined],
    ['over 64 chars', `+14155550100${' '.repeat(60)}`, undefined],
  ])('%s', (_name, input, region) => {
    expect(normalisePhone(input, region)).toEqual(INVALID);
  });

  it('rejects non-string input without throwing', () => {
    expect(normalisePhone(undefined as unknown as string)).toEqual(INVALID);
    expect(normalisePhone(14155550100 as unknown as string)).toEqual(INVALID);
  });
});

describe('numberBlock / isKnownRegion', () => {
  it('drops the last 4 digits', () => {
    expect(numberBlock('+14155550100')).toBe('+1415555');
    expect(numberBlock('+442079460958')).toBe('+44207946');
    expect(numberBlock('+2901234')).toBe('+290');
  });

  it('throws on non-E.164 without echoing the input', () => {
    expect(() => numberBlock('0207 946 0958')).toThrow(TypeError);
    try {
      numberBlock('secret 0207');
    } catch (e) {
      expect(String((e as Error).message)).not.toContain('0207');
    }
  });

  it('knows regions', () => {
    expect(isKnownRegion('US')).toBe(true);
    expect(isKnownRegion('gb')).toBe(true);
    expect(isKnownRegion('JE')).toBe(true);
    expect(isKnownRegion('ZZ')).toBe(false);
    expect(isKnownRegion('001')).toBe(false);
    expect(isKnownRegion('USA')).toBe(false);
    expect(isKnownRegion('')).toBe(false);
  });
});

describe('properties', () => {
  it('pool of valid example numbers is large', () => {
    expect(VALID.length).toBeGreaterThan(1000);
    expect(SEEDS.length).toBeGreaterThan(1500);
  });

  it('(a) fast path agrees exactly with the library for E.164-shaped input', () => {
    let valid = 0;
    fc.assert(
      fc.property(e164Shaped, (s) => {
        const expected = libResult(s);
        if (expected.ok) valid++;
        expect(normaliseE164(s)).toEqual(expected);
        expect(normalisePhone(s)).toEqual(expected);
      }),
      { numRuns: 30_000 },
    );
    // The generator must exercise both outcomes, not just random junk.
    expect(valid).toBeGreaterThan(3_000);
  });

  it('(a) fast path agrees with the library on every seed and its one-digit neighbours', () => {
    for (const s of SEEDS) {
      for (const v of [s, s.slice(0, -1), `${s}5`, `${s.slice(0, -1)}${(Number(s.at(-1)) + 1) % 10}`]) {
        if (STRICT_E164.test(v)) expect(normaliseE164(v), v).toEqual(libResult(v));
      }
    }
  });

  it('the region of a number is the one the library resolves, shared calling codes included', () => {
    const libRegion = (s: string) => {
      const p = libParse(s);
      return p && p.isValid() ? p.country : undefined;
    };
    let regions = 0;
    fc.assert(
      fc.property(e164Shaped, (s) => {
        const expected = libRegion(s);
        if (expected) regions++;
        expect(phoneRegionOf(s), s).toBe(expected);
      }),
      { numRuns: 20_000 },
    );
    expect(regions).toBeGreaterThan(2_000);
    for (const s of SEEDS) expect(phoneRegionOf(s), s).toBe(libRegion(s));
    expect([phoneRegionOf('+14155552671'), phoneRegionOf('+16135550123'), phoneRegionOf('+77012345678'), phoneRegionOf('+447911123456')]).toEqual(['US', 'CA', 'KZ', 'GG']);
    expect(phoneRegionOf('+80012345678')).toBeUndefined();
    expect(phoneRegionOf('not a number')).toBeUndefined();
  });

  it('(a) formatted international input agrees with the library', () => {
    const formatted = fc
      .tuple(e164Shaped, fc.array(fc.tuple(fc.integer({ min: 2, max: 15 }), fc.constantFrom(' ', '-', '.', ' (0) ', '(', ')', '  ')), { maxLength: 4 }))
      .map(([s, cuts]) => cuts.reduce((acc, [at, sep]) => acc.slice(0, at) + sep + acc.slice(at), s));
    fc.assert(
      fc.property(formatted, (s) => {
        const p = libParse(s, { extract: false });
        const expected = p && p.isValid() && STRICT_E164.test(p.number) ? ok(p.number) : INVALID;
        expect(normalisePhone(s)).toEqual(expected);
      }),
      { numRuns: 10_000 },
    );
  });

  it('rejects a number that is too short for E.164 once the national prefix after the calling code is dropped', () => {
    // fast-check counterexamples (seeds 1850124887, 1052286468): "+4901640" became "+491640", 6 digits.
    for (const input of ['+4901640', '+49 01640', '004901640', '+4901690']) {
      const r = normalisePhone(input);
      if (r.ok) expect(r.e164).toMatch(/^\+[1-9]\d{6,14}$/);
    }
    expect(normalisePhone('+4901640').ok).toBe(false);
    expect(normalisePhone('+4901690').ok).toBe(false);
  });

  it('(b) normalisation is idempotent', () => {
    const formatted = fc.constantFrom(...VALID).chain((p) =>
      fc.constantFrom<[string, string | undefined]>(
        [p.number, undefined],
        [p.formatNational(), p.country],
        [p.formatInternational(), undefined],
      ),
    );
    const junk = fc.tuple(
      fc.string({ unit: fc.constantFrom(...'0123456789 +-()./'), maxLength: 24 }),
      fc.constantFrom(undefined, 'US', 'GB', 'DE', 'IN', 'BR', 'RU'),
    );
    fc.assert(
      fc.property(fc.oneof(formatted, junk, e164Shaped.map((s): [string, undefined] => [s, undefined])), ([input, region]) => {
        const first = normalisePhone(input, region);
        if (first.ok) {
          expect(first.e164).toMatch(STRICT_E164);
          expect(normalisePhone(first.e164)).toEqual(first);
          expect(normalisePhone(first.e164, region)).toEqual(first);
        }
      }),
      { numRuns: 10_000 },
    );
  });

  it('(c) the same valid number in several formats normalises to the same E.164', () => {
    fc.assert(
      fc.property(fc.constantFrom(...VALID), (p) => {
        const region = p.country as CountryCode;
        const intl = p.formatInternational();
        const expected = ok(p.number);
        expect(normalisePhone(p.number)).toEqual(expected);
        expect(normalisePhone(p.formatNational(), region)).toEqual(expected);
        expect(normalisePhone(intl)).toEqual(expected);
        expect(normalisePhone(intl, region)).toEqual(expected);
        expect(normalisePhone(` ${intl.replace(/ /g, '-')} `)).toEqual(expected);
        expect(normalisePhone(`00${intl.slice(1)}`)).toEqual(expected);
        expect(normalisePhone(`00 ${intl.slice(1)}`, 'DE')).toEqual(expected);
      }),
      { numRuns: 3_000 },
    );
  });

  it('never throws and only ever returns strict E.164', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), fc.option(fc.string({ maxLength: 3 }), { nil: undefined }), (input, region) => {
        const r = normalisePhone(input, region);
        if (r.ok) expect(r.e164).toMatch(STRICT_E164);
        else expect(r).toEqual(INVALID);
      }),
      { numRuns: 5_000 },
    );
  });
});
