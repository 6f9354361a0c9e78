import { afterAll, beforeAll, expect, it } from 'vitest';
import { importLines, mirrorAccount, sync } from '../helpers/fixtures.js';
import { describeEachDialect, startTestService, type TestService } from '../helpers/service.js';

/**
 * Review: the answers rule (README "Answers beyond a book's") refuses a sync whose new entries
 * match far more than an address book does: a leaked list. It judged phone syncs only (gate.ts
 * passed 0 new entries for an email sync), so the same leaked list of registered addresses, sent
 * as emails, was answered in full. Twitter's 2022 leak (5.4M accounts) was an email-and-phone
 * lookup enumerated from a list. Email books are now judged against the caller's country's rate.
 */
const REGISTERED = 60;
const ASKED = 100;

describeEachDialect('review: a leaked list sent as emails meets the answers rule too', (dialect) => {
  let svc: TestService;
  const phones = Array.from({ length: ASKED }, (_, i) => `+49151${String(20_000_000 + i * 9973).padStart(8, '0')}`);
  const emails = Array.from({ length: ASKED }, (_, i) => `member${i}@leak-example.org`);

  beforeAll(async () => {
    svc = await startTestService(dialect);
    const lines = [];
    for (let i = 0; i < REGISTERED; i++) {
      lines.push({ accountId: `p${i}`, handle: `hp${i}`, createdAt: '2020-01-01T00:00:00Z', contactPoints: [{ kind: 'phone', value: phones[i], purposes: ['discovery'], verified: true }] });
      lines.push({ accountId: `e${i}`, handle: `he${i}`, createdAt: '2020-01-01T00:00:00Z', contactPoints: [{ kind: 'email', value: emails[i], purposes: ['discovery'], verified: true }] });
    }
    const res = await importLines(svc, lines);
    expect(res.json().failed, res.body).toBe(0);
    // An aged account (the answers rule leaves accounts under 7 days alone), on an ordinary network.
    await mirrorAccount(svc, 'lister-e', [{ value: '+4915119990001', purposes: ['two_factor'] }], { createdAt: '2020-01-01T00:00:00Z', phoneRegion: 'DE' });
    await mirrorAccount(svc, 'lister-p', [{ value: '+4915119990002', purposes: ['two_factor'] }], { createdAt: '2020-01-01T00:00:00Z', phoneRegion: 'DE' });
    await mirrorAccount(svc, 'person-e', [{ value: '+4915119990003', purposes: ['two_factor'] }], { createdAt: '2020-01-01T00:00:00Z', phoneRegion: 'DE' });
  });
  afterAll(async () => svc.stop());

  // Emails first, from an account of their own: the phone refusal below gets its caller suspended.
  it('the list as email addresses is refused', async () => {
    const res = await sync(svc, await svc.tokenFor('lister-e'), { emails });
    expect(res.statusCode, `${res.statusCode}: ${(res.json().matches ?? []).length} accounts answered`).toBe(429);
  });

  it('control: the same list as phone numbers is refused', async () => {
    const res = await sync(svc, await svc.tokenFor('lister-p'), { contacts: phones });
    expect(res.statusCode, res.body.slice(0, 200)).toBe(429);
  });

  it("a person's email book is answered: 12 members among 100 addresses", async () => {
    const book = [...emails.slice(0, 12), ...Array.from({ length: 88 }, (_, i) => `friend${i}@mail-example.net`)];
    const res = await sync(svc, await svc.tokenFor('person-e'), { emails: book });
    expect(res.statusCode, res.body.slice(0, 200)).toBe(200);
    expect(res.json().matches).toHaveLength(12);
  });
});
