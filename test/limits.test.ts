import { afterEach, describe, expect, it } from 'vitest';
import { FindguardClient, injectTransport } from '../src/client/index.js';
import { compilePolicy, type Policy } from '../src/policy/index.js';
import { ipIntelFromRanges } from '../src/net/index.js';
import { mirrorAccount, NUMBERS } from './helpers/fixtures.js';
import { startTestService, T0, type TestService } from './helpers/service.js';

const DAY = 86_400_000;
const HOSTING_IP = '203.0.113.7';
const HOME_IP = '198.51.100.7';
const intel = ipIntelFromRanges([
  { cidr: '203.0.113.0/24', country: 'NL', asn: 64500, asName: 'Example Hosting BV' },
  { cidr: '198.51.100.0/24', country: 'GB', asn: 64501, asName: 'Example Broadband' },
]);

/** n distinct valid German mobile numbers from an offset: a scraper's consecutive run. */
const numbers = (from: number, n: number) => Array.from({ length: n }, (_, i) => `+49151${String(20_000_000 + from + i).padStart(8, '0')}`);

const testPolicy = (over: Partial<Policy> = {}): Policy => ({
  name: 'test',
  tiers: [
    { name: 'hosting-new', when: { network: ['hosting'], accountAgeBelow: '7d' } },
    { name: 'new', when: { accountAgeBelow: '7d' } },
    { name: 'standard' },
  ],
  layers: [
    { id: 'account-new', subject: 'account', cost: 'new', limits: { default: { burst: 10, refill: 10, per: '1h' }, 'hosting-new': { burst: 0, refill: 0, per: '1d' } } },
    { id: 'device-new', subject: 'device', cost: 'new', limits: { default: { burst: 14, refill: 14, per: '1h' } } },
    { id: 'ip-new', subject: 'ip', cost: 'new', limits: { default: { burst: 16, refill: 16, per: '1h' } } },
    { id: 'asn-new', subject: 'asn', cost: 'new', limits: { default: { burst: 1000, refill: 1000, per: '1h' } } },
  ],
  ...over,
});

describe('layered limits through HTTP (in-process store)', () => {
  let svc: TestService;
  afterEach(async () => svc?.stop());

  async function start(policy: Policy) {
    svc = await startTestService('sqlite', { trustedProxies: '127.0.0.1' }, { policy: compilePolicy(policy), ipIntel: intel });
    await mirrorAccount(svc, 'findable', [{ value: numbers(0, 1)[0]!, purposes: ['discovery'] }]);
    for (const id of ['alice', 'bob', 'carol']) await mirrorAccount(svc, id, [], { createdAt: new Date(T0 - 30 * DAY).toISOString() });
  }

  async function call(account: string, path: 'sync' | 'lookup', payload: Record<string, unknown>, headers: Record<string, string> = {}) {
    const token = await svc.tokenFor(account);
    return svc.app.inject({
      method: 'POST',
      url: `/v1/discovery/${path}`,
      remoteAddress: '127.0.0.1',
      headers: { authorization: `Bearer ${token}`, 'x-forwarded-for': HOME_IP, ...headers },
      payload,
    });
  }

  it('refuses with 429, Retry-After and the scope, charging nothing and revealing nothing', async () => {
    await start(testPolicy());
    const first = await call('alice', 'sync', { contacts: numbers(0, 8) });
    expect(first.statusCode).toBe(200);
    expect(first.json().matches).toHaveLength(1);

    const refused = await call('alice', 'sync', { contacts: numbers(8, 5) });
    expect(refused.statusCode).toBe(429);
    // 3 tokens missing at 10 per hour: 1,080 s.
    expect(refused.headers['retry-after']).toBe('1080');
    expect(refused.json()).toEqual({ error: { code: 'rate_limited', message: expect.any(String), details: { retryAfter: 1080, scope: 'account' } } });

    // The refusal charged nothing: the two tokens left still buy two numbers.
    expect((await call('alice', 'sync', { contacts: numbers(8, 2) })).statusCode).toBe(200);
    expect((await call('alice', 'lookup', { phone: numbers(20, 1)[0] })).statusCode).toBe(429);
    svc.clock.advance(360_000);
    expect((await call('alice', 'lookup', { phone: numbers(0, 1)[0] })).json().match).toMatchObject({ accountId: 'findable' });
  });

  it('charges only numbers outside the token-covered previous set', async () => {
    await start(testPolicy());
    const book = numbers(0, 10);
    const first = await call('alice', 'sync', { contacts: book });
    expect(first.statusCode).toBe(200);
    // The bucket is empty, yet a re-sync of the same book with its token costs nothing and still answers.
    const again = await call('alice', 'sync', { contacts: [], previous: { token: first.json().token, contacts: book } });
    expect(again.statusCode).toBe(200);
    expect(again.json().previousMatches).toEqual([{ index: 0, accountId: 'findable', handle: 'h_findable' }]);
    // Without the token, the same numbers are new again and refused.
    expect((await call('alice', 'sync', { contacts: book })).statusCode).toBe(429);
    // One added number on top of the token is one new number: refused now, allowed after 6 minutes.
    const plusOne = { contacts: numbers(10, 1), previous: { token: first.json().token, contacts: book } };
    expect((await call('alice', 'sync', plusOne)).statusCode).toBe(429);
    svc.clock.advance(360_000);
    expect((await call('alice', 'sync', plusOne)).statusCode).toBe(200);
  });

  it('checks every layer before charging any: a refusal by the IP layer leaves the account untouched', async () => {
    await start(testPolicy());
    expect((await call('alice', 'sync', { contacts: numbers(0, 10) })).statusCode).toBe(200);
    // Same IP: 6 of its 16 are left, bob asks 8.
    const r = await call('bob', 'sync', { contacts: numbers(100, 8) });
    expect(r.statusCode).toBe(429);
    expect(r.json().error.details.scope).toBe('ip');
    // Bob's own budget was not charged: from another address he gets all 10.
    expect((await call('bob', 'sync', { contacts: numbers(100, 10) }, { 'x-forwarded-for': '198.51.100.8' })).statusCode).toBe(200);
  });

  it('limits a device across accounts', async () => {
    await start(testPolicy());
    const device = { 'x-device-id': 'phone-1' };
    expect((await call('alice', 'sync', { contacts: numbers(0, 10) }, { ...device, 'x-forwarded-for': '198.51.100.1' })).statusCode).toBe(200);
    const r = await call('bob', 'sync', { contacts: numbers(100, 6) }, { ...device, 'x-forwarded-for': '198.51.100.2' });
    expect(r.json().error.details.scope).toBe('device');
  });

  it('charges a call without X-Device-Id to a per-account no-device key with the device layer\'s limits', async () => {
    // The device layer (14) is tighter than the account's (here raised to 100): leaving the header out must not escape it.
    const policy = testPolicy();
    policy.layers[0] = { id: 'account-new', subject: 'account', cost: 'new', limits: { default: { burst: 100, refill: 100, per: '1h' } } };
    policy.layers.splice(2, 1);
    await start(policy);
    expect((await call('alice', 'sync', { contacts: numbers(0, 10) })).statusCode).toBe(200);
    const r = await call('alice', 'sync', { contacts: numbers(10, 6) });
    expect(r.statusCode).toBe(429);
    expect(r.json().error.details.scope).toBe('device');
    // Another account's missing header is its own key; a real device id is its own key too.
    expect((await call('bob', 'sync', { contacts: numbers(100, 10) })).statusCode).toBe(200);
    expect((await call('alice', 'sync', { contacts: numbers(10, 6) }, { 'x-device-id': 'phone-2' })).statusCode).toBe(200);
  });

  it('gives fresh accounts on hosting networks nothing until they age, and believes X-Forwarded-For only from trusted proxies', async () => {
    await start(testPolicy());
    await mirrorAccount(svc, 'fresh', [], { createdAt: new Date(T0 - DAY).toISOString() });
    const fromHosting = { 'x-forwarded-for': HOSTING_IP };
    expect((await call('fresh', 'lookup', { phone: NUMBERS.usA }, fromHosting)).json().error.details.scope).toBe('account');
    expect((await call('fresh', 'lookup', { phone: NUMBERS.usA })).statusCode).toBe(200);
    svc.clock.advance(7 * DAY);
    expect((await call('fresh', 'lookup', { phone: NUMBERS.usB }, fromHosting)).statusCode).toBe(200);

    // From an untrusted hop the header is ignored: the socket address is the caller.
    await mirrorAccount(svc, 'fresh2', [], { createdAt: new Date(svc.clock.now() - DAY).toISOString() });
    const token = await svc.tokenFor('fresh2');
    const direct = await svc.app.inject({
      method: 'POST',
      url: '/v1/discovery/lookup',
      remoteAddress: HOSTING_IP,
      headers: { authorization: `Bearer ${token}`, 'x-forwarded-for': HOME_IP },
      payload: { phone: NUMBERS.usA },
    });
    expect(direct.statusCode).toBe(429);
  });

  it('asks for a proof-of-work where the policy says so; a proof is bound to the account and single-use', async () => {
    const policy = testPolicy({ challenge: { difficulty: { default: 6 }, ttl: '1m' } });
    policy.layers[0]!.limits.default = { burst: 10, refill: 10, per: '1h', challengeBelow: 0.5 };
    await start(policy);
    expect((await call('alice', 'sync', { contacts: numbers(0, 4) })).statusCode).toBe(200);
    const asked = await call('alice', 'sync', { contacts: numbers(4, 2) });
    expect(asked.statusCode).toBe(428);
    const { challenge } = asked.json().error.details;
    expect(challenge).toMatchObject({ algorithm: 'sha256-leading-zero-bits', difficulty: 6 });

    const { solveChallenge, formatProof } = await import('../src/client/index.js');
    const proof = formatProof(challenge.id, (await solveChallenge(challenge)).nonce);
    // Bound to the account it was issued to: worthless to bob.
    expect((await call('bob', 'sync', { contacts: numbers(4, 6) }, { 'x-findguard-proof': proof })).statusCode).toBe(428);
    expect((await call('alice', 'sync', { contacts: numbers(4, 2) }, { 'x-findguard-proof': proof })).statusCode).toBe(200);
    // Used once: the same proof again is a new challenge.
    expect((await call('alice', 'sync', { contacts: numbers(6, 1) }, { 'x-findguard-proof': proof })).statusCode).toBe(428);
    // Expired: a fresh challenge solved too late is refused.
    const later = (await call('alice', 'sync', { contacts: numbers(6, 1) })).json().error.details.challenge;
    const lateProof = formatProof(later.id, (await solveChallenge(later)).nonce);
    svc.clock.advance(2 * 60_000);
    expect((await call('alice', 'sync', { contacts: numbers(6, 1) }, { 'x-findguard-proof': lateProof })).statusCode).toBe(428);

    // The SDK answers challenges by itself.
    const token = await svc.tokenFor('carol');
    const client = new FindguardClient({ transport: injectTransport(svc.app, { remoteAddress: '198.51.100.9' }), token });
    await client.sync(numbers(0, 4));
    const result = await client.sync(numbers(50, 3));
    expect(client.stats.challenges).toBe(1);
    expect(result.matches).toEqual([]);
  });

  it('trips the breaker on a surge of new numbers and refuses only the tightened tiers, with scope global', async () => {
    const policy = testPolicy({
      breaker: { window: '5m', learnHalfLife: '1h', initialBaseline: 5, ratio: 4, minimum: 20, hold: '10m', tighten: { new: 0 } },
    });
    policy.layers = policy.layers.filter((l) => l.id === 'account-new');
    await start(policy);
    await mirrorAccount(svc, 'newbie', [], { createdAt: new Date(T0 - DAY).toISOString() });
    for (const [i, id] of ['alice', 'bob', 'carol'].entries()) {
      expect((await call(id, 'sync', { contacts: numbers(i * 100, 8) }, { 'x-forwarded-for': `198.51.100.${i + 1}` })).statusCode).toBe(200);
    }
    const r = await call('newbie', 'lookup', { phone: NUMBERS.usA });
    expect(r.statusCode).toBe(429);
    expect(r.json().error.details).toEqual({ retryAfter: 600, scope: 'global' });
    svc.clock.advance(60_000);
    expect((await call('alice', 'lookup', { phone: NUMBERS.usA })).statusCode).toBe(200);
    svc.clock.advance(11 * 60_000);
    expect((await call('newbie', 'lookup', { phone: NUMBERS.usA })).statusCode).toBe(200);
  });

  it('counts shadow layers without refusing, and exposes decisions per layer on /metrics', async () => {
    const policy = testPolicy();
    policy.layers[2]!.shadow = true;
    await start(policy);
    expect((await call('alice', 'sync', { contacts: numbers(0, 9) })).statusCode).toBe(200);
    // The IP layer (16) would refuse bob's 9, but is in shadow mode.
    expect((await call('bob', 'sync', { contacts: numbers(100, 9) })).statusCode).toBe(200);
    expect((await call('bob', 'sync', { contacts: numbers(200, 5) })).statusCode).toBe(429);
    const metrics = await svc.app.inject({ method: 'GET', url: '/metrics', headers: svc.internal });
    expect(metrics.statusCode).toBe(200);
    expect(metrics.headers['content-type']).toMatch(/^text\/plain/);
    const text = metrics.body;
    expect(text).toMatch(/findguard_limit_decisions_total\{layer="ip-new",outcome="shadow_refused"\} 1/);
    expect(text).toMatch(/findguard_limit_decisions_total\{layer="account-new",outcome="refused"\} 1/);
    expect(text).toMatch(/findguard_limit_decisions_total\{layer="account-new",outcome="near_limit"\} 2/);
    expect(text).toMatch(/findguard_discovery_calls_total\{operation="full-sync",outcome="refused",scope="account"\} 1/);
    // Each refusal is logged once, without numbers.
    const refusals = svc.logs.lines.filter((l) => l.includes('refused by limits'));
    expect(refusals).toHaveLength(1);
    expect(refusals[0]).toContain('"scope":"account"');
    for (const n of numbers(0, 300)) expect(svc.logs.text).not.toContain(n.slice(1));
  });

  it('charges a throttled caller several tokens per new number, and challenges when the abuse engine asks', async () => {
    await start(testPolicy());
    const base = { accountId: 'alice', ip: HOME_IP, account: { createdAt: T0 - 30 * DAY }, operation: 'full-sync' as const };
    await expect(svc.ctx.limits.check({ ...base, newNumbers: 3, costFactor: 4 })).rejects.toMatchObject({ code: 'rate_limited' });
    await svc.ctx.limits.check({ ...base, newNumbers: 2, costFactor: 4 });
    await expect(svc.ctx.limits.check({ ...base, newNumbers: 1, costFactor: 4 })).rejects.toMatchObject({ code: 'rate_limited' });
    await expect(svc.ctx.limits.check({ ...base, accountId: 'bob', newNumbers: 1, forceChallenge: true })).rejects.toMatchObject({ code: 'challenge_required' });
    // A call no bucket could ever hold is refused at once: no puzzle to solve for a refusal.
    await expect(svc.ctx.limits.check({ ...base, accountId: 'carol', newNumbers: 500, forceChallenge: true })).rejects.toMatchObject({ code: 'rate_limited' });
  });
});
