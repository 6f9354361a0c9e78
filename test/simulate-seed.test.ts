import { cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildSettings } from '../src/config/config.js';
import { importNdjson } from '../src/directory/import.js';
import { signDevToken } from '../src/http/auth/jwt.js';
import { createLogger } from '../src/logger.js';
import { createService, type Service } from '../src/main.js';
import { importLineOf, Population } from '../src/population/index.js';
import { signHs256 } from '../src/simulate/driver.js';
import { seedAccounts, SEED_BATCH } from '../src/simulate/seed.js';
import { ManualClock } from '../src/util/clock.js';
import { SeededRandom } from '../src/util/random.js';

/**
 * The simulator seeds its directory without the NDJSON text (src/simulate/seed.ts) and signs its
 * clients' tokens with one HMAC: the directory and the tokens must be the ones the import and
 * signDevToken make, or the replay would not measure the same service.
 */
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function serviceIn(dir: string): Promise<Service> {
  const { config, secrets } = buildSettings({ dataDir: dir, logLevel: 'silent' }, dir);
  return createService(config, secrets, { clock: new ManualClock(Date.parse('2019-12-17T00:00:00Z')), random: new SeededRandom(99), logger: createLogger('silent'), matchWorkers: 0 });
}

function tables(service: Service): Record<string, unknown[]> {
  const sqlite = service.ctx.db.sqlite!;
  const names = sqlite.prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'kysely_%' ORDER BY name").all();
  // The migrations table records when each ran (wall clock): not part of what is compared.
  const out: Record<string, unknown[]> = {};
  for (const { name } of names) out[name] = sqlite.prepare(`SELECT * FROM "${name}" ORDER BY rowid`).all();
  return out;
}

describe('simulator seeding and tokens', () => {
  it('writes the directory the NDJSON import writes, row for row, across batches', { timeout: 120_000 }, async () => {
    const a = mkdtempSync(join(tmpdir(), 'fg-seed-a-'));
    const b = mkdtempSync(join(tmpdir(), 'fg-seed-b-'));
    dirs.push(a, b);
    buildSettings({ dataDir: a, logLevel: 'silent' }, a);
    // The same secrets (hash keys) in both: the directory's hashes must match.
    for (const f of readdirSync(a)) cpSync(join(a, f), join(b, f), { recursive: true });
    const population = new Population({ seed: 5, accounts: SEED_BATCH + 1500, now: Date.parse('2019-12-17T00:00:00Z') });
    const viaImport = await serviceIn(a);
    const viaSeed = await serviceIn(b);
    try {
      async function* lines(): AsyncGenerator<string> {
        for (const acc of population.accounts()) yield importLineOf(acc);
      }
      const report = await importNdjson(viaImport.ctx.directory, lines());
      expect(report.failed).toBe(0);
      const progress: number[] = [];
      const written = await seedAccounts(viaSeed.ctx.directory, population.accounts(), (n) => progress.push(n));
      expect(written).toBe(report.accounts);
      expect(progress).toEqual([SEED_BATCH, SEED_BATCH + 1500]);
      await viaImport.ctx.events.flush();
      await viaSeed.ctx.events.flush();
      const x = tables(viaImport);
      const y = tables(viaSeed);
      expect(Object.keys(y)).toEqual(Object.keys(x));
      expect((x.contact_points ?? []).length).toBeGreaterThan(SEED_BATCH);
      for (const name of Object.keys(x)) expect(y[name], name).toEqual(x[name]);
    } finally {
      await viaImport.close();
      await viaSeed.close();
    }
  });

  it('signs the token signDevToken signs', async () => {
    const jwt = { kind: 'hs256' as const, secret: new Uint8Array(32).fill(7), local: true };
    for (const [id, now] of [['acct-000001', 1_576_540_800_123], ['acct-999999', 1_600_000_000_999]] as const) {
      expect(signHs256(jwt, id, now, 37 * 86_400)).toBe(await signDevToken(jwt, id, now, 37 * 86_400));
    }
    expect(signHs256({ ...jwt, issuer: 'x' }, 'acct-000001', 0, 60)).toBeUndefined();
  });
});
