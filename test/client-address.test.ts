import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { LookupEvent } from '../src/abuse/events.js';
import { fromRow } from '../src/abuse/pipeline.js';
import { MemoryLimitStore, type ApplyInput, type ApplyResult } from '../src/limits/index.js';
import { compilePolicy, type Policy } from '../src/policy/index.js';
import { ipIntelFromRanges } from '../src/net/index.js';
import { dotted, forms4, forms6, groups6, expected6, port } from './helpers/addresses.js';
import { mirrorAccount } from './helpers/fixtures.js';
import { describeEachDialect, startTestService, T0, type TestService } from './helpers/service.js';

/**
 * The client address behind a trusted proxy: every spelling of one address is that address (its
 * subnet, ASN, country and network), and what cannot be read gets no free pass.
 */

const DAY = 86_400_000;
const PROXY = '127.0.0.1';
const intel = ipIntelFromRanges([
  { cidr: '5.9.0.0/16', country: 'DE', asn: 64500, asName: 'Example Hosting GmbH' },
  { cidr: '2a01:4f8::/32', country: 'DE', asn: 64500, asName: 'Example Hosting GmbH' },
  { cidr: '198.51.100.0/24', country: 'GB', asn: 64501, asName: 'Example Broadband' },
]);

const policy = (over: Partial<Policy> = {}): Policy => ({
  name: 'addresses',
  tiers: [
    { name: 'hosting-new', when: { network: ['hosting'], accountAgeBelow: '7d' } },
    { name: 'hosting', when: { network: ['hosting'] } },
    { name: 'standard' },
  ],
  layers: [
    { id: 'account-new', subject: 'account', cost: 'new', limits: { default: { burst: 100, refill: 100, per: '1h' }, 'hosting-new': { burst: 0, refill: 0, per: '1d' } } },
    { id: 'ip-new', subject: 'ip', cost: 'new', limits: { default: { burst: 100, refill: 100, per: '1h' }, hosting: { burst: 3, refill: 3, per: '1d' } } },
    { id: 'subnet-new', subject: 'subnet', cost: 'new', limits: { default: { burst: 100, refill: 100, per: '1h' } } },
    { id: 'subnet48-new', subject: 'subnet48', cost: 'new', limits: { default: { burst: 100, refill: 100, per: '1h' } } },
    { id: 'asn-new', subject: 'asn', cost: 'new', limits: { default: { burst: 100, refill: 100, per: '1h' } } },
    { id: 'country-new', subject: 'country', cost: 'new', limits: { default: { burst: 100, refill: 100, per: '1h' } } },
  ],
  ...over,
});

/** German mobile numbers, one per call. */
let next = 0;
const freshNumber = () => `+49151${String(20_000_000 + next++).padStart(8, '0')}`;

const ON_HOSTING = ['5.9.10.1', '5.9.10.1:80', '0x05090a01', '84478465', '::ffff:5.9.10.1', '[::ffff:5.9.10.1]:8080', '[2a01:4f8::1]', '[2a01:4f8::1]:443', '2A01:04F8:0:0::1'];
const UNREADABLE = ['005.009.010.001', '010.0.0.1', 'garbage', '5.9.10.1:99999', '[5.9.10.1]', '1.2.3.4.5', '+447911123456'];

describeEachDialect('client addresses behind a trusted proxy', (dialect) => {
  let svc: TestService;
  afterEach(async () => svc?.stop());

  async function start(p: Policy, trustedProxies = PROXY) {
    svc = await startTestService(dialect, { trustedProxies }, { policy: compilePolicy(p), ipIntel: intel });
    await mirrorAccount(svc, 'fresh');
    for (const id of ['aged', 'aged2']) await mirrorAccount(svc, id, [], { createdAt: new Date(T0 - 30 * DAY).toISOString() });
  }

  async function lookup(account: string, forwardedFor: string) {
    svc.clock.advance(1000);
    return svc.app.inject({
      method: 'POST',
      url: '/v1/discovery/lookup',
      remoteAddress: PROXY,
      headers: { authorization: `Bearer ${await svc.tokenFor(account)}`, 'x-forwarded-for': forwardedFor },
      payload: { phone: freshNumber() },
    });
  }

  async function storedEvents(): Promise<LookupEvent[]> {
    expect(await svc.ctx.events.flush()).toBe(true);
    const rows = await svc.ctx.db.kysely.selectFrom('lookup_events').selectAll().orderBy('at').execute();
    return rows.map(fromRow);
  }

  it('answers a fresh account on a hosting address as hosting, however the proxy wrote the address', async () => {
    await start(policy());
    for (const xff of ON_HOSTING) {
      const res = await lookup('fresh', xff);
      expect([xff, res.statusCode, res.json().error?.details?.scope]).toEqual([xff, 429, 'account']);
    }
    // The control: a consumer address.
    expect((await lookup('fresh', '198.51.100.7:1234')).statusCode).toBe(200);
  });

  it('records the canonical address, its subnets, ASN and country in the lookup events', async () => {
    await start(policy());
    expect((await lookup('aged', '[2A01:4F8::1]:443')).statusCode).toBe(200);
    expect((await lookup('aged', '0x05090a01')).statusCode).toBe(200);
    expect((await lookup('aged', '::ffff:198.51.100.7')).statusCode).toBe(200);
    const events = await storedEvents();
    expect(events.map((e) => [e.ip, e.subnet, e.subnet48, e.asn, e.country, e.network])).toEqual([
      ['2a01:4f8::1', '2a01:4f8::/64', '2a01:4f8::/48', 64500, 'DE', 'hosting'],
      ['5.9.10.1', '5.9.10.0/24', undefined, 64500, 'DE', 'hosting'],
      ['198.51.100.7', '198.51.100.0/24', undefined, 64501, 'GB', 'other'],
    ]);
  });

  it('skips a trusted proxy whose own entry carries a port', async () => {
    await start(policy(), `${PROXY},10.0.0.0/8`);
    const res = await lookup('fresh', '5.9.10.1, 10.1.2.3:443');
    expect(res.statusCode).toBe(429);
    expect((await lookup('aged', '198.51.100.7, [::ffff:10.1.2.3]:443')).statusCode).toBe(200);
    expect((await storedEvents()).map((e) => [e.ip, e.outcome])).toEqual([
      ['5.9.10.1', 'refused'],
      ['198.51.100.7', 'allowed'],
    ]);
  });

  it('refuses an address it cannot read by default (400 invalid_client_address), charging and recording nothing', async () => {
    await start(policy());
    expect(compilePolicy(policy()).unreadableAddress).toBe('refuse');
    for (const xff of UNREADABLE) {
      const res = await lookup('aged', xff);
      expect([xff, res.statusCode, res.json()]).toEqual([xff, 400, { error: { code: 'invalid_client_address', message: expect.any(String) } }]);
      expect(res.body).not.toContain(xff);
    }
    expect(await storedEvents()).toEqual([]);
    // An unauthenticated call learns nothing more.
    const anon = await svc.app.inject({ method: 'POST', url: '/v1/discovery/lookup', remoteAddress: PROXY, headers: { 'x-forwarded-for': 'garbage' }, payload: { phone: freshNumber() } });
    expect(anon.statusCode).toBe(401);
  });

  it('under unreadableAddress: hosting, answers such calls as the strictest network, on one shared ip key', async () => {
    await start(policy({ unreadableAddress: 'hosting' }));
    const fresh = await lookup('fresh', 'garbage');
    expect([fresh.statusCode, fresh.json().error.details.scope]).toEqual([429, 'account']);
    // The hosting tier's ip budget is 3, and every unreadable address spends the same one.
    for (const xff of ['garbage', '005.009.010.001', 'other-garbage']) expect((await lookup('aged', xff)).statusCode).toBe(200);
    const shared = await lookup('aged2', '010.0.0.1');
    expect([shared.statusCode, shared.json().error.details.scope]).toEqual([429, 'ip']);
    const events = await storedEvents();
    expect(new Set(events.map((e) => `${e.ip} ${e.subnet} ${e.network} ${e.asn ?? '-'} ${e.country ?? '-'}`))).toEqual(new Set(['unreadable unreadable hosting - -']));
  });

  it('stores sign-up addresses canonical, and refuses those it cannot read', async () => {
    await start(policy());
    const put = (id: string, ip: string) => svc.app.inject({ method: 'PUT', url: `/internal/v1/accounts/${id}`, headers: svc.internal, payload: { handle: id, signup: { ip, deviceId: 'd1' } } });
    const stored: Array<[string, string]> = [
      ['[2a01:4f8::1]:443', '2a01:4f8::1'],
      ['2A01:04F8::0001', '2a01:4f8::1'],
      ['::ffff:5.9.10.1', '5.9.10.1'],
      ['0x05090a01', '5.9.10.1'],
      ['198.51.100.7', '198.51.100.7'],
    ];
    for (const [i, [ip, canonical]] of stored.entries()) {
      const res = await put(`s${i}`, ip);
      expect([ip, res.statusCode, res.json().signup.ip]).toEqual([ip, 201, canonical]);
      expect((await svc.app.inject({ method: 'GET', url: `/internal/v1/accounts/s${i}`, headers: svc.internal })).json().signup.ip).toBe(canonical);
    }
    // The abuse engine sees the sign-up at the canonical address, with its subnet and country.
    expect(await svc.ctx.events.flush()).toBe(true);
    expect(svc.ctx.abuse.engine.store.account('s0')?.signup).toMatchObject({ ip: '2a01:4f8::1', subnet: '2a01:4f8::/64', country: 'DE', network: 'hosting' });
    expect(svc.ctx.abuse.engine.store.account('s3')?.signup).toMatchObject({ ip: '5.9.10.1', subnet: '5.9.10.0/24', asn: 64500 });

    for (const ip of UNREADABLE) {
      const res = await put('refused', ip);
      expect([ip, res.statusCode, res.json().error.code]).toEqual([ip, 400, 'invalid_request']);
      expect(res.body).not.toContain(ip);
    }
    expect((await svc.app.inject({ method: 'GET', url: '/internal/v1/accounts/refused', headers: svc.internal })).statusCode).toBe(404);

    const imp = await svc.app.inject({
      method: 'POST',
      url: '/internal/v1/import',
      headers: { ...svc.internal, 'content-type': 'application/x-ndjson' },
      payload: [
        JSON.stringify({ accountId: 'imp-1', handle: 'one', signup: { ip: '::FFFF:5.9.10.1' } }),
        JSON.stringify({ accountId: 'imp-2', handle: 'two', signup: { ip: '005.009.010.001' } }),
      ].join('\n'),
    });
    expect(imp.json()).toMatchObject({ accounts: 1, failed: 1, errors: [{ line: 2, code: 'invalid_request' }] });
    expect((await svc.app.inject({ method: 'GET', url: '/internal/v1/accounts/imp-1', headers: svc.internal })).json().signup.ip).toBe('5.9.10.1');
  });
});

/** A memory store that keeps the keys of every call's charges. */
class KeyRecorder extends MemoryLimitStore {
  readonly calls: string[][] = [];
  override async apply(input: ApplyInput): Promise<ApplyResult> {
    this.calls.push(input.charges.map((c) => c.key).sort());
    return super.apply(input);
  }
}

// The limits do not depend on the database: one dialect is enough.
describe('any spelling of an address yields the limit keys of its canonical form (property, through HTTP)', () => {
  let svc: TestService;
  const store = new KeyRecorder();
  let token: string;
  beforeAll(async () => {
    // Every layer, and budgets no call exhausts: only the keys matter here.
    const generous = policy();
    for (const layer of generous.layers) layer.limits = { default: { burst: 1_000_000, refill: 1_000_000, per: '1h' } };
    svc = await startTestService('sqlite', { trustedProxies: PROXY }, { policy: compilePolicy(generous), ipIntel: intel, limitStore: store });
    await mirrorAccount(svc, 'aged', [], { createdAt: new Date(T0 - 30 * DAY).toISOString() });
    token = await svc.tokenFor('aged', 365 * 86_400);
  });
  afterAll(async () => svc.stop());

  async function keysFor(xff: string): Promise<string[]> {
    const before = store.calls.length;
    const res = await svc.app.inject({
      method: 'POST',
      url: '/v1/discovery/lookup',
      remoteAddress: PROXY,
      headers: { authorization: `Bearer ${token}`, 'x-forwarded-for': xff },
      payload: { phone: '+4915120000000' },
    });
    expect([xff, res.statusCode]).toEqual([xff, 200]);
    expect(store.calls.length).toBe(before + 1);
    return store.calls[store.calls.length - 1]!;
  }

  it('for IPv4 and IPv6, mapped, with ports and brackets, in every form ipaddr.js reads alike', async () => {
    // Addresses inside the ranges too, so that ASN and country keys are compared.
    const v4 = fc.oneof(fc.integer({ min: 0, max: 0xffff_ffff }), fc.integer({ min: 0x05090000, max: 0x0509ffff }));
    const v6 = fc.oneof(groups6, groups6.map((g) => [0x2a01, 0x04f8, ...g.slice(2)]));
    await fc.assert(
      fc.asyncProperty(fc.oneof(v4.map((n) => ({ canonical: dotted(n), forms: (p: number) => forms4(n, p) })), v6.map((g) => ({ canonical: expected6(g), forms: (p: number) => forms6(g, p) }))), port, async (a, p) => {
        const want = await keysFor(a.canonical);
        expect(want.some((k) => k === `ip-new:${a.canonical}`)).toBe(true);
        for (const f of a.forms(p)) expect([f, await keysFor(f)]).toEqual([f, want]);
      }),
      { numRuns: 60 },
    );
  });
});
