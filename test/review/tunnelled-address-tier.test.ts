import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mirrorAccount } from '../helpers/fixtures.js';
import { startTestService, type TestService } from '../helpers/service.js';

/**
 * Review ("no path (... a header, a region ...) answers for free"): the default policy gives a
 * fresh account calling from a hosting network nothing (tier hosting-new, account budget 0), and
 * bounds whole farms on hosting networks by their ASN and country. An address in a special-purpose
 * IPv6 range that carries an IPv4 address inside it (6to4 2002::/16, Teredo 2001::/32) is blanked
 * by the IP tables (src/net/tables.ts BLANK_V6): no ASN, no country, and networkOf
 * (src/policy/compile.ts) calls an address without an ASN `other`, a consumer network. So the same
 * Hetzner server (5.9.10.1) that gets nothing over IPv4 gets the `new` tier's 5,000 numbers a
 * fresh account over its 6to4 address 2002:509:a01::/48, with no ASN or country layer at all and
 * 2^80 addresses (2^16 /64 subnets) to rotate the ip and subnet keys over. Behind an edge
 * translator that shows IPv4 clients as 64:ff9b::a.b.c.d (SIIT-DC, NAT46), every IPv4 client is
 * such an address: none is ever `hosting`, and all share one /64 and one /48 bucket.
 *
 * The client address is the one a trusted proxy reports (the socket's, without a proxy).
 */
const HETZNER_V4 = '5.9.10.1';
const SIX_TO_FOUR = '2002:509:a01::1'; // 6to4 of 5.9.10.1
const TEREDO = '2001:0:509:a01::1';
// The well-known NAT64 prefix (RFC 6052): how an edge translator (SIIT-DC, a NAT46 in front of an
// IPv6-only cluster) presents the IPv4 client 5.9.10.1 to the service.
const NAT64 = '64:ff9b::509:a01';

describe('review: a hosting IPv4 address reached through its 6to4 or Teredo IPv6 form', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService('sqlite', { trustedProxies: '127.0.0.1', policy: 'default' });
    // Fresh accounts (created now): the default policy's hosting-new tier on a hosting network.
    for (const id of ['farm-v4', 'farm-6to4', 'farm-teredo', 'farm-nat64']) await mirrorAccount(svc, id, [], { createdAt: new Date(svc.clock.now()).toISOString() });
    await mirrorAccount(svc, 'member', [{ value: '+4915120050001', purposes: ['discovery'] }]);
  });
  afterAll(async () => svc?.stop());

  const lookupFrom = async (account: string, clientIp: string) =>
    svc.app.inject({
      method: 'POST',
      url: '/v1/discovery/lookup',
      remoteAddress: '127.0.0.1',
      headers: { authorization: `Bearer ${await svc.tokenFor(account)}`, 'x-forwarded-for': clientIp },
      payload: { phone: '+4915120050001' },
    });

  it('over IPv4 the fresh account on a hosting network gets nothing (the baseline)', async () => {
    const res = await lookupFrom('farm-v4', HETZNER_V4);
    expect(res.statusCode, res.body).toBe(429);
  });

  it('over the same server\'s 6to4 address it gets nothing either', async () => {
    const res = await lookupFrom('farm-6to4', SIX_TO_FOUR);
    // Fails today: 200 with the match, judged as a consumer network (tier `new`).
    expect(res.statusCode, res.body).toBe(429);
  });

  it('over a Teredo address it gets nothing either', async () => {
    const res = await lookupFrom('farm-teredo', TEREDO);
    expect(res.statusCode, res.body).toBe(429);
  });

  it('through a NAT64 translator at the edge (64:ff9b::/96) it gets nothing either', async () => {
    const res = await lookupFrom('farm-nat64', NAT64);
    expect(res.statusCode, res.body).toBe(429);
  });
});
