import fc from 'fast-check';
import ipaddr from 'ipaddr.js';
import { describe, expect, it } from 'vitest';
import { dotted, expected6, forms4, forms6, groups6, port } from '../../test/helpers/addresses.js';
import { canonicalAddress, proxyTrust } from './client-address.js';

describe('canonicalAddress', () => {
  it('reads what proxies and sockets write, with or without a port', () => {
    const table: Array<[string, string]> = [
      ['5.9.10.1', '5.9.10.1'],
      ['5.9.10.1:80', '5.9.10.1'],
      ['[2a01:4f8::1]', '2a01:4f8::1'],
      ['[2a01:4f8::1]:443', '2a01:4f8::1'],
      ['2A01:04F8:0000::0001', '2a01:4f8::1'],
      ['0x05090a01', '5.9.10.1'],
      ['84478465', '5.9.10.1'],
      ['0x5.0x9.0xa.0x1', '5.9.10.1'],
      ['127.1', '127.0.0.1'],
      ['0', '0.0.0.0'],
      ['::ffff:5.9.10.1', '5.9.10.1'],
      ['[::ffff:509:a01]:8080', '5.9.10.1'],
      // 6to4 (any address of the host's /48) and the well-known NAT64 prefix stand for one IPv4 host.
      ['2002:509:a01::1', '5.9.10.1'],
      ['[2002:509:a01:ffff:1:2:3:4]:443', '5.9.10.1'],
      ['64:ff9b::5.9.10.1', '5.9.10.1'],
      ['64:ff9b::509:a01', '5.9.10.1'],
      // Only a global IPv4 stands behind them: a private or loopback one leaves the IPv6 as written.
      ['2002:a00:5::1', '2002:a00:5::1'],
      ['64:ff9b::7f00:1', '64:ff9b::7f00:1'],
      // Outside those prefixes by one bit: IPv6 as written.
      ['2003:509:a01::1', '2003:509:a01::1'],
      ['64:ff9b:1::509:a01', '64:ff9b:1::509:a01'],
      // IPv4-compatible (deprecated) is an IPv6 address, as RFC 4291 writes it.
      ['::5.9.10.1', '::509:a01'],
      ['fe80::1%eth0', 'fe80::1'],
      ['::', '::'],
    ];
    for (const [input, canonical] of table) expect([input, canonicalAddress(input)]).toEqual([input, canonical]);
  });

  it('reads no IPv4 part with a leading zero, and nothing malformed', () => {
    for (const input of [
      '005.009.010.001',
      '010.0.0.1',
      '08.1.1.1',
      '00',
      '0x05090a01.1.2.3.4',
      '::ffff:010.0.0.1',
      'garbage',
      '',
      ' 5.9.10.1',
      '5.9.10.1 ',
      '5.9.10.1:',
      '5.9.10.1:65536',
      '5.9.10.1:http',
      '5.9.10.1:80:80',
      '[5.9.10.1]',
      '[2a01:4f8::1',
      '[2a01:4f8::1]443',
      '2a01:4f8::1::2',
      '1.2.3.4.5',
      '4294967296',
      '256.1.1.1',
      '+447911123456',
      `${'1'.repeat(70)}`,
      '٥.9.10.1',
    ]) {
      expect([input, canonicalAddress(input)]).toEqual([input, undefined]);
    }
    expect(canonicalAddress(undefined)).toBeUndefined();
  });

  it('reads every spelling of an address as its one canonical text', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff_ffff }), port, (n, p) => {
        const canonical = dotted(n);
        for (const f of forms4(n, p)) expect([f, canonicalAddress(f)]).toEqual([f, canonical]);
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(groups6, port, (parts, p) => {
        const canonical = expected6(parts);
        for (const f of forms6(parts, p)) expect([f, canonicalAddress(f)]).toEqual([f, canonical]);
      }),
      { numRuns: 2000 },
    );
  });

  it('is idempotent, and what it returns ipaddr.js reads as the same address', () => {
    const anything = fc.oneof(
      fc.string({ maxLength: 40 }),
      fc.stringMatching(/^[0-9a-fA-Fx:.[\]%]{1,40}$/),
      fc.ipV4(),
      fc.ipV4Extended(),
      fc.ipV6(),
    );
    fc.assert(
      fc.property(anything, (s) => {
        const c = canonicalAddress(s);
        if (c === undefined) return;
        expect(canonicalAddress(c)).toBe(c);
        expect(ipaddr.parse(c).toString()).toBe(c);
      }),
      { numRuns: 5000 },
    );
  });
});

describe('proxyTrust', () => {
  const trust = proxyTrust(['10.0.0.0/8', '192.0.2.7', '2001:db8::/32', '::ffff:198.51.100.0/120']);

  it('recognises a proxy however its address is written', () => {
    for (const hop of ['10.1.2.3', '10.1.2.3:443', '::ffff:10.1.2.3', '192.0.2.7', '[2001:db8::9]:80', '2001:DB8::9', '198.51.100.1']) expect([hop, trust(hop)]).toEqual([hop, true]);
  });

  it('trusts nothing else, and nothing it cannot read', () => {
    for (const hop of ['11.0.0.1', '192.0.2.8', '2001:db9::1', '010.1.2.3', 'garbage', '198.51.101.1']) expect([hop, trust(hop)]).toEqual([hop, false]);
  });
});
