import { sql } from 'kysely';
import type { CoreContext } from '../context.js';
import { importNdjson, type ImportReport } from '../directory/import.js';
import { importLineOf, Population, type SyntheticAccount } from '../population/index.js';

export interface SeedOptions {
  accounts: number;
  seed: number;
  now: number;
}

/** The import line of a synthetic account: seeding goes through the same path as a real import. */
async function* lines(population: Population): AsyncGenerator<string> {
  for (const account of population.accounts()) yield importLineOf(account);
}

export async function seedDirectory(
  ctx: Pick<CoreContext, 'directory'>,
  options: SeedOptions,
  onProgress?: (report: ImportReport) => void,
): Promise<{ population: Population; report: ImportReport }> {
  const population = new Population({ seed: options.seed, accounts: options.accounts, now: options.now });
  const report = await importNdjson(ctx.directory, lines(population), onProgress);
  return { population, report };
}

export interface DemoRecord {
  seed: number;
  accounts: number;
  now: number;
}

const DEMO_KEY = 'demo';

export async function readDemoRecord(ctx: Pick<CoreContext, 'db'>): Promise<DemoRecord | undefined> {
  const row = await ctx.db.kysely.selectFrom('findguard_meta').select('value').where('key', '=', DEMO_KEY).executeTakeFirst();
  return row ? (JSON.parse(row.value) as DemoRecord) : undefined;
}

/**
 * Seeds the demo population once. Only the generator's parameters are recorded, never a number:
 * the banner regenerates the one number it shows from them.
 */
export async function ensureDemoPopulation(ctx: Pick<CoreContext, 'db' | 'directory' | 'clock'>, accounts = 2000, seed = 20191224): Promise<{ record: DemoRecord; seeded: boolean }> {
  const existing = await readDemoRecord(ctx);
  if (existing) return { record: existing, seeded: false };
  const count = await ctx.db.kysely.selectFrom('accounts').select(sql<number>`count(*)`.as('n')).executeTakeFirstOrThrow();
  if (Number(count.n) > 0) throw new Error('the database already holds accounts that are not demo data; start without --demo');
  const record: DemoRecord = { seed, accounts, now: ctx.clock.now() };
  await seedDirectory(ctx, record);
  await ctx.db.kysely.insertInto('findguard_meta').values({ key: DEMO_KEY, value: JSON.stringify(record) }).execute();
  return { record, seeded: true };
}

/** The demo's searcher (first active account) and one discoverable account to find. */
export function demoPair(record: DemoRecord): { searcher: SyntheticAccount; target: SyntheticAccount; phone: string } {
  const population = new Population({ seed: record.seed, accounts: record.accounts, now: record.now });
  let searcher: SyntheticAccount | undefined;
  for (let i = 0; i < population.size; i++) {
    const a = population.account(i);
    if (!searcher) {
      if (a.status === 'active') searcher = a;
      continue;
    }
    const phone = a.contactPoints.find((cp) => cp.kind === 'phone' && cp.verified && cp.purposes.includes('discovery'));
    if (a.status === 'active' && phone) return { searcher, target: a, phone: phone.value };
  }
  throw new Error('the demo population has no discoverable account');
}
