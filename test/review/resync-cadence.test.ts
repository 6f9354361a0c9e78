import { afterEach, expect, it } from 'vitest';
import { SeededRandom } from '../../src/util/random.js';
import type { TestService } from '../helpers/service.js';
import { DAY, HOUR, Numbers, bookOf, decisionsOf, importAccounts, settle, startDefault, suspendedIds, syncAs, type Acct } from './organic-world.js';

/**
 * An ordinary, aged user whose app re-syncs the same address book with its sync token (the SDK's
 * client.sync(book)) a few times a day. The token makes those re-syncs free of budget, but every
 * event counts the whole book in `asked` (previous included), and the enumeration detector's
 * long-volume bar reads that decayed total as "weeks of volume past two days' bar".
 */
let svc: TestService;
afterEach(async () => svc?.stop());

async function world(region: string, mix: Record<string, number>) {
  svc = await startDefault();
  const nums = new Numbers(new SeededRandom(11));
  const rng = new SeededRandom(12);
  const now = svc.clock.now();
  // The app's registered users, mostly in the book's countries.
  const registered: Acct[] = [];
  for (const [r, w] of Object.entries(mix)) {
    for (let i = 0; i < Math.round(3000 * w); i++) registered.push({ id: `m-${r}-${i}`, createdAt: now - 400 * DAY, phoneRegion: r, phone: nums.one(r) });
  }
  await importAccounts(svc, registered);
  return { nums, rng, registered: registered.map((a) => a.phone!) };
}

async function run(opts: { region: string; ip: string; mix: Record<string, number>; size: number; perDay: number; days: number }) {
  const { nums, rng, registered } = await world(opts.region, opts.mix);
  const now = svc.clock.now();
  // Background: 30 aged users of the same country syncing books at the population's rate, so the
  // yardstick is learned from others.
  const background: Acct[] = Array.from({ length: 30 }, (_, i) => ({ id: `bg-${i}`, createdAt: now - 300 * DAY, phoneRegion: opts.region, phone: nums.one(opts.region), discoverable: false }));
  const subject: Acct = { id: 'subject', createdAt: now - 400 * DAY, phoneRegion: opts.region, phone: nums.one(opts.region), discoverable: false };
  await importAccounts(svc, [...background, subject]);
  const bgBooks = background.map(() => bookOf(nums, registered, rng, 300, 0.15, opts.mix));
  const book = bookOf(nums, registered, rng, opts.size, 0.15, opts.mix);
  const log: string[] = [];
  let token: string | undefined;
  const bgTokens: Array<string | undefined> = [];
  const every = DAY / opts.perDay;
  for (let step = 0; step < opts.days * opts.perDay; step++) {
    // Background users sync once a day.
    if (step % opts.perDay === 0) {
      for (let i = 0; i < background.length; i++) {
        svc.clock.advance(1000);
        const r = await syncAs(svc, background[i]!.id, bgTokens[i] ? { contacts: [], previous: { token: bgTokens[i], contacts: bgBooks[i] } } : { contacts: bgBooks[i] }, { ip: `81.2.69.${10 + i}`, device: `bg-dev-${i}` });
        if (r.status === 200) bgTokens[i] = r.token;
        else log.push(`bg-${i} ${r.status} ${r.code}`);
      }
    }
    svc.clock.advance(60_000);
    const body = token ? { contacts: [], previous: { token, contacts: book } } : { contacts: book };
    const r = await syncAs(svc, 'subject', body, { ip: opts.ip, device: 'subject-phone', solve: true });
    if (r.challenged) log.push(`step ${step} (day ${(step / opts.perDay).toFixed(1)}): challenged (428), solved -> ${r.status} ${r.code ?? ''}`);
    if (r.status === 200) token = r.token;
    else log.push(`step ${step} (day ${(step / opts.perDay).toFixed(1)}): ${r.status} ${r.code} ${r.scope ?? ''} ${r.message ?? ''}`);
    svc.clock.advance(every - 60_000 - (step % opts.perDay === 0 ? background.length * 1000 : 0));
    await settle(svc);
  }
  const decisions = (await decisionsOf(svc)).filter((d) => d.subject === 'subject');
  return { log, decisions, suspended: await suspendedIds(svc) };
}

it('a UK user with 2,500 contacts whose app syncs with its token 3 times a day for 3 weeks is never refused, challenged or suspended', async () => {
  const out = await run({ region: 'GB', ip: '176.27.0.10', mix: { GB: 1 }, size: 2500, perDay: 3, days: 21 });
  expect(out.log, JSON.stringify(out.decisions.slice(0, 3))).toEqual([]);
  expect(out.decisions).toEqual([]);
}, 600_000);

it('a Dubai resident with 2,000 contacts over 9 countries whose app syncs with its token 4 times a day is not suspended', async () => {
  const mix = { AE: 0.25, IN: 0.25, PK: 0.12, PH: 0.1, EG: 0.08, GB: 0.06, US: 0.05, SA: 0.05, LK: 0.04 };
  const out = await run({ region: 'AE', ip: '94.200.0.10', mix, size: 2000, perDay: 4, days: 14 });
  expect(out.suspended, JSON.stringify({ log: out.log.slice(-8), suspend: out.decisions.filter((d) => d.action === 'suspend') })).not.toContain('subject');
}, 600_000);
