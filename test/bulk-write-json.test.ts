import { cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildSettings } from '../src/config/config.js';
import { writeAccounts, type AccountWrite } from '../src/directory/bulk-write.js';
import { createLogger } from '../src/logger.js';
import { createService, type Service } from '../src/main.js';
import { Population } from '../src/population/index.js';
import { accountWriteOf } from '../src/simulate/seed.js';
import { ManualClock } from '../src/util/clock.js';
import { SeededRandom } from '../src/util/random.js';

/**
 * On SQLite the bulk write sends its rows as one JSON parameter (insertJson) instead of multi-row
 * VALUES: the rows written must be the same, byte for byte, new and re-imported, in the same order.
 */
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A service in a new data folder; `secretsOf`: a folder whose secrets (hash keys) it takes, so hashes compare. */
async function serviceIn(secretsOf?: string): Promise<Service> {
  const dir = mkdtempSync(join(tmpdir(), 'fg-bulk-json-'));
  dirs.push(dir);
  if (secretsOf) for (const f of readdirSync(secretsOf)) if (!f.includes('sqlite')) cpSync(join(secretsOf, f), join(dir, f), { recursive: true });
  const { config, secrets } = buildSettings({ dataDir: dir, logLevel: 'silent' }, dir);
  return createService(config, secrets, { clock: new ManualClock(Date.parse('2019-12-17T00:00:00Z')), random: new SeededRandom(3), logger: createLogger('silent'), matchWorkers: 0 });
}

function tables(service: Service): Record<string, unknown[]> {
  const sqlite = service.ctx.db.sqlite!;
  const out: Record<string, unknown[]> = {};
  for (const name of ['accounts', 'contact_points', 'contact_books', 'contact_reach']) out[name] = sqlite.prepare(`SELECT * FROM "${name}" ORDER BY rowid`).all();
  return out;
}

async function write(service: Service, batch: readonly AccountWrite[], json: boolean, now: number): Promise<void> {
  let n = 0;
  const directory = service.ctx.directory;
  await service.ctx.db.kysely.transaction().execute((trx) => writeAccounts(trx, directory.deps.hasher, batch, () => `cp-${String(++n).padStart(8, '0')}-${now}`, now, json));
}

describe('the bulk write on SQLite', () => {
  it('writes through JSON the rows multi-row VALUES write, then updates them the same way', { timeout: 60_000 }, async () => {
    const now = Date.parse('2019-12-17T00:00:00Z');
    const population = new Population({ seed: 11, accounts: 1500, now });
    const batch = [...population.accounts()].map((a) => accountWriteOf(a, now));
    // Odd texts: quotes, backslashes, non-Latin and astral characters, a lone surrogate (bound as U+FFFD, so that chunk goes as VALUES).
    const odd = ['a "quoted" \\ handle', 'Zoë 😀 名前', 'x\ud800y'];
    odd.forEach((handle, i) => (batch[i * 450]!.account = { ...batch[i * 450]!.account, handle }));
    batch[7]!.account = { ...batch[7]!.account, signup: { ip: '203.0.113.9', userAgent: 'ua "x"\n', deviceId: 'dev-1' } };
    expect(batch.filter((l) => l.points.length > 0).length).toBeGreaterThan(1000);
    // A re-import: changed handles and statuses, the same points (updates) and a new one.
    const again = batch.slice(0, 600).map((l, i) => ({
      ...l,
      account: { ...l.account, handle: `${l.account.handle}-2`, ...(i % 5 === 0 ? { status: 'suspended' as const } : {}) },
      points: i % 7 === 0 ? [...l.points, { kind: 'email' as const, value: `n${i}@example.org`, bits: 1, verified: 1, region: null }] : l.points,
    }));
    const viaValues = await serviceIn();
    const viaJson = await serviceIn(dirs[dirs.length - 1]);
    try {
      for (const [svc, json] of [[viaValues, false], [viaJson, true]] as const) {
        await write(svc, batch, json, 1_576_540_800_000);
        await write(svc, again, json, 1_576_540_900_000);
      }
      const x = tables(viaValues);
      const y = tables(viaJson);
      expect((x.accounts ?? []).length).toBe(1500);
      expect((x.contact_points ?? []).length).toBeGreaterThan(1500);
      for (const name of Object.keys(x)) expect(y[name], name).toEqual(x[name]);
      const types = (s: Service) => s.ctx.db.sqlite!.prepare('SELECT typeof(created_at) c, typeof(hash) h, typeof(region) r, count(*) n FROM contact_points GROUP BY 1, 2, 3 ORDER BY 1, 2, 3').all();
      expect(types(viaJson)).toEqual(types(viaValues));
      const accountTypes = (s: Service) => s.ctx.db.sqlite!.prepare('SELECT typeof(created_at) c, typeof(phone_region) p, typeof(signup_ip) i, count(*) n FROM accounts GROUP BY 1, 2, 3 ORDER BY 1, 2, 3').all();
      expect(accountTypes(viaJson)).toEqual(accountTypes(viaValues));
    } finally {
      await viaValues.close();
      await viaJson.close();
    }
  });
});
