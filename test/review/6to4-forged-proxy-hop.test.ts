import Fastify from 'fastify';
import { afterAll, describe, expect, it } from 'vitest';
import { proxyTrust } from '../../src/net/client-address.js';

/**
 * Review of 396c9f6 (6to4 and NAT64 read as their IPv4): canonicalAddress now turns a 6to4 hop
 * (2002:AABB:CCDD::/48) into the IPv4 AA.BB.CC.DD, and proxyTrust matches it against the IPv4
 * CIDRs of FINDGUARD_TRUSTED_PROXIES. So an IPv6 client whose address is the 6to4 form of a
 * trusted proxy's IPv4 (2002:a00:5::1 for 10.0.0.5 under the common "10.0.0.0/8") is skipped as a
 * proxy hop, and the X-Forwarded-For entry it wrote itself becomes its address: any address it
 * likes, a fresh ip/subnet/ASN/country each call. 6to4 of a private IPv4 is no real 6to4 host
 * (RFC 3056 needs a global IPv4), and holding 2002:X::/48 says nothing about holding X's proxy.
 */
describe('review: a 6to4 client address matching a trusted IPv4 proxy CIDR', () => {
  const app = Fastify({ trustProxy: proxyTrust(['10.0.0.0/8']) });
  app.get('/ip', async (req) => ({ ip: req.ip }));
  afterAll(async () => app.close());

  it('the proxy test says a 6to4 address of 10.0.0.5 is no trusted proxy', () => {
    // Fails today: true.
    expect(proxyTrust(['10.0.0.0/8'])('2002:a00:5::1')).toBe(false);
    expect(proxyTrust(['127.0.0.1'])('2002:7f00:1::1')).toBe(false);
  });

  it('a client on 2002:a00:5::1 behind the load balancer cannot choose its own address', async () => {
    // The load balancer (10.0.0.2) appends the client's socket address to what the client sent.
    const res = await app.inject({ method: 'GET', url: '/ip', remoteAddress: '10.0.0.2', headers: { 'x-forwarded-for': '198.51.100.77, 2002:a00:5::1' } });
    // Fails today: 198.51.100.77, the address the client wrote.
    expect((res.json() as { ip: string }).ip).not.toBe('198.51.100.77');
  });
});

/**
 * The other side of the same change: a proxy the operator lists by the address findguard sees it
 * under, where that is a NAT64 (64:ff9b::/96) or 6to4 one (an IPv6-only cluster behind SIIT-DC
 * sees its IPv4 load balancer 10.0.0.2 as 64:ff9b::a00:2), is no longer trusted after the upgrade:
 * the hop now reads as 10.0.0.2, the configured entry stays an IPv6 CIDR, and they never meet. Every
 * caller then gets the proxy's own address: one ip, /24, ASN and country budget for all of them.
 */
describe('review: a trusted proxy listed by its NAT64 address', () => {
  it('is still trusted', () => {
    // Fails today: false (true before 396c9f6).
    expect(proxyTrust(['64:ff9b::a00:2'])('64:ff9b::a00:2')).toBe(true);
    expect(proxyTrust(['64:ff9b::/96'])('64:ff9b::a00:2')).toBe(true);
  });
});

