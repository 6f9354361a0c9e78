import { describe, expect, it } from 'vitest';
import { subnetKeys } from '../net/index.js';
import { canonicalSubject } from './subjects.js';

/** An operator's subject must read exactly as the request path's origin does, or the decision would match nothing. */
describe('canonicalSubject', () => {
  it('subnets: any address of the /24, /64 or /48, in the form subnetKeys gives the calls', () => {
    for (const ip of ['203.0.113.77', '2001:db8:1:2::5', '2001:0db8:0001:0002:ffff::1', '2a00:1450:4001:82a::200e']) {
      const keys = subnetKeys(ip);
      const width = ip.includes(':') ? 64 : 24;
      expect(canonicalSubject('subnet', `${ip}/${width}`)).toBe(keys.subnet);
      if (keys.wide) expect(canonicalSubject('subnet', `${ip}/48`)).toBe(keys.wide);
    }
    for (const bad of ['203.0.113.0/16', '2001:db8::/32', '203.0.113.0', 'x/24', '1.2.3.4/24/1']) expect(() => canonicalSubject('subnet', bad)).toThrow();
  });

  it('addresses, AS numbers and countries in one form', () => {
    expect(canonicalSubject('ip', '2001:0DB8::0001')).toBe('2001:db8::1');
    expect(canonicalSubject('ip', '::ffff:198.51.100.7')).toBe('198.51.100.7');
    expect(canonicalSubject('asn', 'as64500')).toBe('64500');
    expect(canonicalSubject('asn', '64500')).toBe('64500');
    expect(canonicalSubject('country', 'nl')).toBe('NL');
    for (const [scope, bad] of [['asn', 'AS'], ['asn', '99999999999'], ['country', 'NLD'], ['ip', '300.1.1.1'], ['account', 'has space'], ['device', '']] as const) {
      expect(() => canonicalSubject(scope, bad), `${scope} ${bad}`).toThrow();
    }
  });
});
