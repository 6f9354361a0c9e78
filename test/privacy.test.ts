import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parsePhoneNumberFromString } from 'libphonenumber-js/max';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { importLineOf } from '../src/population/index.js';
import { Population } from '../src/population/index.js';
import { lookup, sync } from './helpers/fixtures.js';
import { describeEachDialect, startTestService, T0, type TestService } from './helpers/service.js';

/**
 * Runs realistic traffic, then searches everything findguard wrote (database files or tables,
 * and every log line at trace level) for every number and address the traffic used.
 */
describeEachDialect('no plaintext contact value is ever stored or logged', (dialect) => {
  let svc: TestService;
  const used = new Set<string>();
  const population = new Population({ seed: 7, accounts: 400, now: T0 });

  beforeAll(async () => {
    svc = await startTestService(dialect, { policy: 'none' });
    const accounts = [...population.accounts()];
    for (const a of accounts) for (const cp of a.contactPoints) used.add(cp.value);
    const body = accounts.map(importLineOf).join('\n');
    const imp = await svc.app.inject({ method: 'POST', url: '/internal/v1/import', headers: { ...svc.internal, 'content-type': 'application/x-ndjson' }, payload: body });
    expect(imp.json().failed).toBe(0);

    // Contact points added one by one, including a national format and a rejected duplicate.
    await svc.app.inject({ method: 'PUT', url: '/internal/v1/accounts/extra', headers: svc.internal, payload: { handle: 'extra', signup: { ip: '203.0.113.9' } } });
    for (const [value, region] of [['07911 123456', 'GB'], ['+33 6 12 34 56 78', undefined], ['+33612345678', undefined]] as const) {
      await svc.app.inject({ method: 'POST', url: '/internal/v1/accounts/extra/contact-points', headers: svc.internal, payload: { kind: 'phone', value, purposes: ['discovery'], verified: true, ...(region ? { region } : {}) } });
    }
    used.add('+447911123456').add('+33612345678');

    const searcher = accounts.find((a) => a.status === 'active')!;
    const token = await svc.tokenFor(searcher.id);
    // Single lookups: registered and not, E.164 and national, valid and invalid.
    const unregistered = ['+14155552671', '+919812345678', '+5511987654321', '+61412345678'];
    unregistered.forEach((n) => used.add(n));
    for (const a of accounts.slice(0, 120)) await lookup(svc, token, { phone: a.contactPoints[0]!.value });
    for (const n of unregistered) await lookup(svc, token, { phone: n });
    await lookup(svc, token, { phone: '(415) 555-2671', region: 'US' });
    await lookup(svc, token, { phone: '+1415555267' });
    used.add('+1415555267');
    for (const a of accounts.slice(0, 40)) {
      const email = a.contactPoints.find((c) => c.kind === 'email');
      if (email) await lookup(svc, token, { email: email.value.toUpperCase() });
    }
    await lookup(svc, token, { email: 'secret.person@mail.example' });
    used.add('secret.person@mail.example');
    // Syncs with tokens, invalid entries and a forged token.
    const book = accounts.slice(100, 400).map((a) => a.contactPoints[0]!.value).concat(unregistered);
    const first = await sync(svc, token, { region: 'US', contacts: book.slice(0, 200) });
    const t = first.json().token as string;
    await sync(svc, token, { region: 'US', contacts: book.slice(200), previous: { token: t, contacts: book.slice(0, 200) } });
    await sync(svc, token, { contacts: book.slice(200), previous: { token: 'AAAA' + t.slice(4), contacts: book.slice(0, 200) } });
    await sync(svc, token, { contacts: ['+1415555267', 'junk'] });
    // A suspended caller and a bad request still must not leak what they sent.
    await lookup(svc, await svc.tokenFor('extra'), { phone: '+14155552671', extra: true });
  });
  afterAll(async () => svc.stop());

  function forms(value: string): string[] {
    if (value.includes('@')) return [value, value.toUpperCase()];
    const out = [value, value.slice(1)];
    const p = parsePhoneNumberFromString(value);
    if (p) out.push(p.nationalNumber, p.formatNational().replace(/\s/g, ''));
    return out.filter((s) => s.length >= 7);
  }

  function assertClean(haystack: string, what: string) {
    const hits: string[] = [];
    for (const value of used) for (const f of forms(value)) if (haystack.includes(f)) hits.push(`${value} (as ${f})`);
    expect(hits, `${what} contains contact values`).toEqual([]);
  }

  it('the logs hold none of them, at trace level', () => {
    expect(svc.logs.lines.length).toBeGreaterThan(100);
    assertClean(svc.logs.text, 'log');
  });

  it('the database holds none of them, nor their unkeyed hashes', async () => {
    let dump = '';
    if (dialect === 'sqlite') {
      await svc.close();
      // The directory's file, the lookup events' file beside it, and their WALs.
      const files = readdirSync(svc.dataDir).filter((f) => f.startsWith('findguard.'));
      expect(files).toEqual(expect.arrayContaining(['findguard.sqlite', 'findguard.events.sqlite']));
      for (const f of files) {
        dump += readFileSync(join(svc.dataDir, f)).toString('latin1');
      }
    } else {
      const client = new pg.Client({ connectionString: svc.databaseUrl });
      await client.connect();
      const tables = await client.query<{ tablename: string }>(`select tablename from pg_tables where schemaname = 'public'`);
      for (const { tablename } of tables.rows) {
        const rows = await client.query(`select * from "${tablename}"`);
        for (const row of rows.rows as Array<Record<string, unknown>>) {
          dump += Object.values(row).map((v) => (Buffer.isBuffer(v) ? v.toString('latin1') : String(v))).join('\u0000');
        }
      }
      await client.end();
    }
    expect(dump.length).toBeGreaterThan(10_000);
    assertClean(dump, 'database');
    const unkeyed = [...used].slice(0, 100).map((v) => createHash('sha256').update(v).digest().toString('latin1'));
    for (const h of unkeyed) expect(dump.includes(h)).toBe(false);
  });
});
