/**
 * `npx tsx bench/seed.ts [accounts]`: the simulator's seeding alone (src/simulate/seed.ts through
 * the directory's bulk write) into a fresh SQLite data folder (/dev/shm on Linux, else the
 * temporary folder; SEED_DIR overrides), timed in wall and CPU. For a profile:
 * `node --import tsx --cpu-prof --cpu-prof-dir=DIR bench/seed.ts 100000`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSettings } from '../src/config/config.js';
import { createLogger } from '../src/logger.js';
import { createService } from '../src/main.js';
import { Population } from '../src/population/index.js';
import { seedAccounts } from '../src/simulate/seed.js';
import { ManualClock } from '../src/util/clock.js';
import { SeededRandom } from '../src/util/random.js';

const accounts = Number(process.argv[2] ?? 100_000);
const root = process.env.SEED_DIR ?? (process.platform === 'linux' ? '/dev/shm' : tmpdir());
const dir = mkdtempSync(join(root, 'findguard-seed-bench-'));
const { config, secrets } = buildSettings({ dataDir: dir, logLevel: 'silent' }, dir);
const service = await createService(config, secrets, { clock: new ManualClock(Date.parse('2019-12-17T00:00:00Z')), random: new SeededRandom(99), logger: createLogger('silent'), matchWorkers: 0 });
const population = new Population({ seed: 5, accounts, now: Date.parse('2019-12-17T00:00:00Z') });
try {
  const cpu = process.cpuUsage();
  const started = performance.now();
  const written = await seedAccounts(service.ctx.directory, population.accounts());
  const ms = performance.now() - started;
  const used = process.cpuUsage(cpu);
  console.log(`seeded ${written.toLocaleString('en-US')} accounts in ${(ms / 1000).toFixed(2)} s wall, ${((used.user + used.system) / 1e6).toFixed(2)} s CPU (${Math.round(written / (ms / 1000)).toLocaleString('en-US')}/s)`);
} finally {
  await service.close();
  rmSync(dir, { recursive: true, force: true });
}
