/**
 * `npm run bench:import`: writes an NDJSON user base of 1,000,000 contact points from the
 * synthetic population, then times `findguard import FILE` into a fresh SQLite data folder.
 */
import { spawnSync } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { importLineOf } from '../src/population/index.js';
import { Population } from '../src/population/index.js';

const TARGET = Number(process.env.BENCH_CONTACT_POINTS ?? 1_000_000);
const dir = mkdtempSync(join(tmpdir(), 'findguard-import-bench-'));
const file = join(dir, 'users.ndjson');
const out = createWriteStream(file);
const population = new Population({ seed: 3, accounts: Math.ceil(TARGET / 1.2), now: Date.now() });
let points = 0;
let accounts = 0;
for (const a of population.accounts()) {
  if (points >= TARGET) break;
  const line = importLineOf(a);
  if (!out.write(line + '\n')) await new Promise<void>((r) => out.once('drain', () => r()));
  points += a.contactPoints.length;
  accounts++;
}
await new Promise<void>((r) => out.end(() => r()));
console.log(`wrote ${accounts.toLocaleString('en-US')} accounts with ${points.toLocaleString('en-US')} contact points`);

const cli = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const started = Date.now();
const run = spawnSync(process.execPath, [cli, 'import', file], {
  env: { ...process.env, FINDGUARD_DATA_DIR: join(dir, 'data'), FINDGUARD_LOG_LEVEL: 'warn' },
  encoding: 'utf8',
});
const seconds = (Date.now() - started) / 1000;
process.stdout.write(run.stdout);
if (run.status !== 0) {
  process.stderr.write(run.stderr);
  process.exitCode = 1;
}
console.log(`\nimport of ${points.toLocaleString('en-US')} contact points: ${seconds.toFixed(1)} s (${Math.round(points / seconds).toLocaleString('en-US')}/s); target < 120 s: ${seconds < 120 ? 'met' : 'NOT met'}`);
rmSync(dir, { recursive: true, force: true });
