import { afterEach, expect, it } from 'vitest';
import { loadPolicy } from '../../src/policy/index.js';
import { SeededRandom } from '../../src/util/random.js';
import { DIALECTS, type TestService } from '../helpers/service.js';
import { DAY, Numbers, bookOf, importAccounts, registeredMembers, startDefault, syncAs } from './organic-world.js';

/**
 * People behind a commercial VPN, which egresses from a hosting network. The default policy gave an
 * aged account there 50 new numbers a day: a bucket that can never hold a 300-number book refuses
 * it whatever is paid, so such a person could never sync their book, however long they waited. A new
 * one got nothing for a week, like a fresh account on a server, unless the app attested its sign-up.
 */
let svc: TestService;
afterEach(async () => svc?.stop());

/** A Microsoft Azure address in the UK: hosting in the offline IP data, as VPN egress is. */
const VPN = '51.105.10.74';

it('an aged account behind a VPN syncs its 300-number book for a proof-of-work, and so does a new one once a week old, when its refusal says', async () => {
  svc = await startDefault();
  const nums = new Numbers(new SeededRandom(31));
  const rng = new SeededRandom(32);
  const now = svc.clock.now();
  const phones = await registeredMembers(svc, nums, 'GB', 500);
  await importAccounts(svc, [
    { id: 'aged', createdAt: now - 300 * DAY, phoneRegion: 'GB', phone: nums.one('GB') },
    { id: 'fresh', createdAt: now - 60_000, phoneRegion: 'GB', phone: nums.one('GB') },
  ]);
  const book = bookOf(nums, phones, rng, 300, 0.15, { GB: 1 });
  const aged = await syncAs(svc, 'aged', { contacts: book }, { ip: VPN, device: 'd-aged', solve: true });
  expect(aged).toMatchObject({ status: 200, challenged: true });
  // The re-sync with the token asks nothing new.
  const again = await syncAs(svc, 'aged', { contacts: [], previous: { token: aged.token, contacts: book } }, { ip: VPN, device: 'd-aged', solve: true });
  expect(again.status).toBe(200);
  // Fresh accounts on hosting networks still get nothing (every recorded scrape ran those)...
  const freshBook = bookOf(nums, phones, rng, 300, 0.15, { GB: 1 });
  // ...until they are a week old, which the refusal says: a budget of 0 never refills, and "retry in a
  // day" (the bucket's period) had an app retry daily for a week and be refused each time.
  const refused = await syncAs(svc, 'fresh', { contacts: freshBook }, { ip: VPN, device: 'd-fresh', solve: true });
  expect(refused).toMatchObject({ status: 429, scope: 'account', retryAfter: (7 * DAY - 60_000) / 1000 });
  svc.clock.advance(refused.retryAfter! * 1000 - 1000);
  expect(await syncAs(svc, 'fresh', { contacts: freshBook }, { ip: VPN, device: 'd-fresh', solve: true })).toMatchObject({ status: 429, retryAfter: 1 });
  svc.clock.advance(1000);
  expect(await syncAs(svc, 'fresh', { contacts: freshBook }, { ip: VPN, device: 'd-fresh', solve: true })).toMatchObject({ status: 200, challenged: true });
}, 120_000);

it.each(DIALECTS)('%s: a new user behind a VPN whose sign-up the app attested syncs its first book for a proof-of-work; unattested, it waits the week', async (dialect) => {
  svc = await startDefault(dialect);
  const nums = new Numbers(new SeededRandom(41));
  const rng = new SeededRandom(42);
  const now = svc.clock.now();
  const phones = await registeredMembers(svc, nums, 'GB', 500);
  await importAccounts(svc, [
    // Mirrored through the import with an attested sign-up, and one the app said nothing of.
    { id: 'attested', createdAt: now - 60_000, phoneRegion: 'GB', phone: nums.one('GB'), signup: { ip: VPN, deviceId: 'd-att', attested: true } },
    { id: 'unsaid', createdAt: now - 60_000, phoneRegion: 'GB', phone: nums.one('GB'), signup: { ip: VPN, deviceId: 'd-uns' } },
  ]);
  // And through PUT, the app saying the device failed its check.
  const put = await svc.app.inject({ method: 'PUT', url: '/internal/v1/accounts/failed', headers: svc.internal, payload: { handle: 'h_failed', createdAt: new Date(now - 60_000).toISOString(), phoneRegion: 'GB', signup: { ip: VPN, attested: false } } });
  expect(put.statusCode, put.body).toBe(201);
  const view = async (id: string) => (await svc.app.inject({ method: 'GET', url: `/internal/v1/accounts/${id}`, headers: svc.internal })).json().signup.attested;
  expect([await view('attested'), await view('unsaid'), await view('failed')]).toEqual([true, null, false]);
  // A value that is no boolean is refused at the edge.
  const bad = await svc.app.inject({ method: 'PUT', url: '/internal/v1/accounts/bad', headers: svc.internal, payload: { handle: 'h_bad', signup: { ip: VPN, attested: 'yes' } } });
  expect(bad.statusCode).toBe(400);

  const book = () => bookOf(nums, phones, rng, 300, 0.15, { GB: 1 });
  expect(await syncAs(svc, 'attested', { contacts: book() }, { ip: VPN, device: 'd-att', solve: true })).toMatchObject({ status: 200, challenged: true });
  expect(await syncAs(svc, 'unsaid', { contacts: book() }, { ip: VPN, device: 'd-uns', solve: true })).toMatchObject({ status: 429, scope: 'account' });
  expect(await syncAs(svc, 'failed', { contacts: book() }, { ip: VPN, device: 'd-fail', solve: true })).toMatchObject({ status: 429, scope: 'account' });
  // The console's what-if, replaying these calls under the same policy, refuses what was refused and
  // no more: it reads the accounts' attestation too.
  const { ConsolePolicy } = await import('../../src/console/policy.js');
  const { loadIpIntel } = await import('../../src/net/index.js');
  const replay = await new ConsolePolicy({ db: svc.ctx.db.kysely, policy: loadPolicy('default'), ipIntel: await loadIpIntel(), hashKeys: svc.secrets.hashKeys }).whatIf('default', now - DAY, svc.clock.now() + 1);
  expect(replay.actual.refused).toBeGreaterThan(0);
  expect(replay.wouldRefuse).toBe(replay.actual.refused);
  expect(replay.wouldChallenge).toBeGreaterThan(0);
  // A later PUT that says nothing of the sign-up keeps the attestation; one with a new sign-up context replaces it.
  await svc.app.inject({ method: 'PUT', url: '/internal/v1/accounts/attested', headers: svc.internal, payload: { handle: 'h_attested' } });
  expect(await view('attested')).toBe(true);
  await svc.app.inject({ method: 'PUT', url: '/internal/v1/accounts/attested', headers: svc.internal, payload: { handle: 'h_attested', signup: { ip: VPN } } });
  expect(await view('attested')).toBeNull();
  expect(await syncAs(svc, 'attested', { contacts: book() }, { ip: VPN, device: 'd-att', solve: true })).toMatchObject({ status: 429, scope: 'account' });
}, 120_000);
