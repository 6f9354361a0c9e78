import { beforeAll, describe, expect, it } from 'vitest';
import { LOOKUP_PATH, SYNC_PATH, type Transport, type TransportRequest } from '../src/client/index.js';
import { loadIpIntel } from '../src/net/index.js';
import { accountId } from '../src/population/index.js';
import { loadPolicy } from '../src/policy/index.js';
import { ContactsOracle } from '../src/simulate/contacts.js';
import type { Driver } from '../src/simulate/driver.js';
import { InProcessDriver, ipSourceFrom, runScenario, World, type IpSource } from '../src/simulate/index.js';
import { shrunk } from './helpers/scenarios.js';

let ips: IpSource;
beforeAll(async () => {
  ips = ipSourceFrom(await loadIpIntel());
});

/** A bearer token whose payload names the account: all the oracle reads of it. */
const bearer = (id: string) => `Bearer x.${Buffer.from(JSON.stringify({ sub: id })).toString('base64url')}.y`;

describe('"my contacts" users in the simulator', () => {
  it('the oracle counts a reveal to a caller outside the owner’s latest book, and not one inside it', async () => {
    const world = new World({ ...shrunk('twitter-2019'), population: { accounts: 1500, discoverableShare: 0.6, occupancy: 0.35, contactsShare: 0.2 } }, ips);
    const owner = [...Array(world.existing).keys()].find((i) => world.contactsMode(i))!;
    const verified = (i: number) => world.population.account(i).contactPoints[0]!.verified;
    const [friend, stranger] = [...Array(world.existing).keys()].filter((i) => i !== owner && verified(i));
    expect(world.isDiscoverable(owner)).toBe(false);
    expect(world.account(owner).contactPoints[0]!.discoverableBy).toBe('contacts');

    // A target that answers what the test says: the owner's sync, then matches naming the owner.
    let answer = '{}';
    const transport: Transport = { send: async () => ({ status: 200, headers: {}, body: answer }) };
    const oracle = new ContactsOracle(world);
    const driver = oracle.watch({ transport: () => transport } as unknown as Driver);
    const t = driver.transport({ ip: '192.0.2.1', deviceId: 'd' });
    const ask = (from: number, req: Omit<TransportRequest, 'headers' | 'method'>, body: string) => {
      answer = body;
      return t.send({ method: 'POST', headers: { authorization: bearer(accountId(from)) }, ...req });
    };
    const friendPhone = world.population.account(friend!).contactPoints[0]!.value;
    await ask(owner, { path: SYNC_PATH, body: { contacts: [friendPhone, '+4915100000000'] } }, '{"matches":[],"previousMatches":[],"invalid":[],"token":"t"}');
    await ask(friend!, { path: LOOKUP_PATH, body: { phone: 'x' } }, JSON.stringify({ match: { accountId: accountId(owner), handle: 'h' } }));
    expect(oracle.result()).toMatchObject({ revealedInBook: 1, exposedOutsideBook: 0, violations: 0 });
    await ask(stranger!, { path: SYNC_PATH, body: { contacts: ['x'] } }, JSON.stringify({ matches: [{ index: 0, accountId: accountId(owner), handle: 'h' }], previousMatches: [], invalid: [], token: 't' }));
    expect(oracle.result()).toMatchObject({ revealedInBook: 1, exposedOutsideBook: 1, violations: 1 });
    // A newer sync of the owner's without the friend: the friend is outside now.
    await ask(owner, { path: SYNC_PATH, body: { contacts: ['+4915100000000'] } }, '{"matches":[],"previousMatches":[],"invalid":[],"token":"t"}');
    await ask(friend!, { path: LOOKUP_PATH, body: { phone: 'x' } }, JSON.stringify({ match: { accountId: accountId(owner), handle: 'h' } }));
    expect(oracle.result()).toMatchObject({ exposedOutsideBook: 1, violations: 2 });
    expect(oracle.result().users).toBeGreaterThan(0);
  });

  it('twitter-2019 with no protections: the scraper exposes none of them, their friends find them', async () => {
    const spec = shrunk('twitter-2019');
    spec.population.contactsShare = 0.3;
    const { result } = await runScenario(spec, ips, (w) => InProcessDriver.create(w, { matchWorkers: 0, policy: loadPolicy('none') }));
    expect(result.contactsMode).toBeDefined();
    const c = result.contactsMode!;
    expect(c.users).toBeGreaterThan(100);
    expect(c.exposedOutsideBook).toBe(0);
    expect(c.violations).toBe(0);
    expect(c.revealedInBook).toBeGreaterThan(0);
    // The scraper still gets everyone else it asks for: the setting is what keeps these out.
    expect(result.attackers[0]!.exposure).toBeGreaterThanOrEqual(0.99);
  }, 300_000);
});
