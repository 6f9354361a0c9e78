import pino from 'pino';
import { afterEach, expect, it } from 'vitest';
import { HitRates } from '../src/abuse/hit-rates.js';
import { describeEachDialect, startTestService, T0, type TestService } from './helpers/service.js';

/** What the engine publishes is what every node reads: each country's latest rate, in one write per 200 countries. */
describeEachDialect('hit rates: publishing', (dialect) => {
  let svc: TestService | undefined;
  afterEach(async () => {
    await svc?.close();
    svc = undefined;
  });

  it('inserts new countries and overwrites known ones, past a chunk of 200, at most every ten minutes', async () => {
    svc = await startTestService(dialect);
    const db = svc.ctx.db.kysely;
    const rates = new HitRates(db, undefined, pino({ level: 'silent' }));
    // 450 codes: three statements' worth. Not real regions: the table does not care.
    const codes = Array.from({ length: 450 }, (_, i) => `C${i}`);
    await rates.publish(codes.map((country, i) => ({ country, numbers: 1000 + i, matched: i })), T0);
    // Ten minutes not passed: nothing written.
    await rates.publish([{ country: codes[0]!, numbers: 1, matched: 1 }], T0 + 60_000);
    await rates.publish(
      [
        { country: codes[0]!, numbers: 5, matched: 2 },
        { country: codes[449]!, numbers: 7, matched: 3 },
        { country: 'ZZnew', numbers: 9, matched: 4 },
      ],
      T0 + 600_000,
    );
    const rows = await db.selectFrom('hit_rates').selectAll().orderBy('country').execute();
    const byCountry = new Map(rows.map((r) => [r.country, { numbers: Number(r.numbers), matched: Number(r.matched), at: Number(r.updated_at) }]));
    expect(byCountry.size).toBe(451);
    expect(byCountry.get(codes[0]!)).toEqual({ numbers: 5, matched: 2, at: T0 + 600_000 });
    expect(byCountry.get(codes[449]!)).toEqual({ numbers: 7, matched: 3, at: T0 + 600_000 });
    expect(byCountry.get('ZZnew')).toEqual({ numbers: 9, matched: 4, at: T0 + 600_000 });
    expect(byCountry.get(codes[200]!)).toEqual({ numbers: 1200, matched: 200, at: T0 });
  });
});
