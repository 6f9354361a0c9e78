import { describe, expect, it } from 'vitest';
import { parseAsn4, parseAsn6, parseCountry4, parseCountry6 } from './csv.js';
import { CountryCodes, type Ranges } from './tables.js';

const ranges = <T>(): Ranges<T> => ({ s: [], e: [], v: [] });

describe('CSV parsers', () => {
  it('read well-formed rows', () => {
    const out = ranges<number>();
    parseCountry4(Buffer.from('16777216,16777471,AU\n16777472,16778239,CN\n'), new CountryCodes(), out);
    expect(out.s).toEqual([16777216, 16777472]);
    expect(out.e).toEqual([16777471, 16778239]);
    const asn = ranges<number>();
    const names = new Map<number, string>();
    parseAsn4(Buffer.from('16777216,16777471,13335,"Cloudflare, Inc."\n'), names, asn);
    expect(asn.v).toEqual([13335]);
    expect(names.get(13335)).toBe('Cloudflare, Inc.');
  });

  it('end on damaged rows (missing commas, truncated files) instead of looping', () => {
    const damaged = ['1', '1,2', '1,2\n3,4,US', '12345', 'x,y,z\n', '1,2,US\n3'];
    for (const text of damaged) {
      expect(() => parseCountry4(Buffer.from(text), new CountryCodes(), ranges<number>())).not.toThrow(RangeError);
      expect(() => parseCountry6(Buffer.from(text), new CountryCodes(), ranges<bigint>())).not.toThrow(RangeError);
      expect(() => parseAsn4(Buffer.from(text), new Map(), ranges<number>())).not.toThrow(RangeError);
      expect(() => parseAsn6(Buffer.from(text), new Map(), ranges<bigint>())).not.toThrow(RangeError);
    }
  }, 5000);
});
