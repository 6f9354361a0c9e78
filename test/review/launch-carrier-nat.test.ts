import { afterEach, expect, it } from 'vitest';
import { SeededRandom } from '../../src/util/random.js';
import type { TestService } from '../helpers/service.js';
import { Numbers, bookOf, decisionsOf, registeredMembers, importAccounts, settle, startDefault, syncAs, type Acct } from './organic-world.js';

/**
 * Launch hour behind carrier NAT, through the API: new users join by the dozen through each of a
 * few carrier addresses findguard has never seen and sync their books. The farming detector took
 * 4 sign-ups within 15 minutes on such an address as a burst against a baseline of nothing and
 * throttled the joiners (each new number costing 4), so a first sync over ~1,250 numbers was
 * refused, again and again while the burst was remembered.
 */
let svc: TestService;
afterEach(async () => svc?.stop());

/** Mexican carrier NAT addresses (consumer networks in the IP data), each in its own /24. */
const CARRIER = ['189.180.171.136', '187.247.236.118', '201.151.213.247', '148.240.79.99', '189.211.132.85', '200.76.178.129', '189.196.28.208', '189.194.104.154'];

it('every launch-hour first sync of a 1,500-number book is answered, and nobody is throttled, challenged or suspended', async () => {
  svc = await startDefault();
  const nums = new Numbers(new SeededRandom(21));
  const rng = new SeededRandom(22);
  const phones = await registeredMembers(svc, nums, 'MX', 1500);
  const refused: string[] = [];
  // 200 people in 30 minutes, 25 through each address: a sign-up every 9 seconds.
  for (let i = 0; i < 200; i++) {
    svc.clock.advance(9000);
    const joiner: Acct = { id: `new-${i}`, createdAt: svc.clock.now(), phoneRegion: 'MX', phone: nums.one('MX'), signup: { ip: CARRIER[i % CARRIER.length]!, deviceId: `dev-${i}` } };
    await importAccounts(svc, [joiner]);
    if (i % 10 === 9) await settle(svc);
    const book = bookOf(nums, phones, rng, 1500, 0.15, { MX: 1 });
    const r = await syncAs(svc, joiner.id, { contacts: book }, { ip: joiner.signup!.ip, device: joiner.signup!.deviceId!, solve: true });
    if (r.status !== 200 || r.challenged) refused.push(`${joiner.id}: ${r.status} ${r.code ?? ''} ${r.scope ?? ''}${r.challenged ? ' (challenged)' : ''}`);
  }
  await settle(svc);
  expect(refused).toEqual([]);
  expect(await decisionsOf(svc)).toEqual([]);
}, 180_000);
