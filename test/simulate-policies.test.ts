import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { CliIo } from '../src/cli/io.js';
import { createProgram } from '../src/cli/program.js';
import { loadPolicy } from '../src/policy/index.js';
import { loadIpIntel } from '../src/net/index.js';
import { InProcessDriver, ipSourceFrom, loadScenario, runScenario, type SimulationResult } from '../src/simulate/index.js';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function testIo(): CliIo & { lines: string[]; errors: string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'findguard-simpol-'));
  dirs.push(dir);
  const lines: string[] = [];
  const errors: string[] = [];
  return { env: { FINDGUARD_DATA_DIR: dir, FINDGUARD_LOG_LEVEL: 'warn' }, cwd: dir, out: (l) => lines.push(l), err: (l) => errors.push(l), interactive: false, lines, errors };
}

/**
 * The Facebook importer shrunk to seconds: two fresh accounts on hosting addresses sync random
 * numbers in maximal (5,000-number) batches. `default` gives new accounts on hosting networks no
 * budget at all; `signal-like` gives every account 50,000 new numbers, so the same run leaks.
 */
const TINY_IMPORTER = {
  extends: 'facebook-importer',
  name: 'tiny-importer',
  days: 1,
  population: { accounts: 2000, discoverableShare: 0.6, occupancy: 0.35 },
  attackers: [
    {
      kind: 'random-scan',
      name: 'tiny-importer',
      accounts: 2,
      createdOverDays: 0.1,
      origins: [{ country: 'US', weight: 1 }],
      ipsPerCountry: 2,
      network: 'hosting',
      startDay: 0.2,
      requestsPerHour: 20,
      numbers: 20_000,
      batchSize: 5000,
    },
  ],
};

const readResult = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as SimulationResult;

describe('simulate --policy', () => {
  it('runs a scenario under each policy, files and labels each result by policy, and they differ', { timeout: 120_000 }, async () => {
    const io = testIo();
    const scenarioFile = join(io.cwd, 'tiny.json');
    writeFileSync(scenarioFile, JSON.stringify(TINY_IMPORTER));
    await createProgram(io).parseAsync(['simulate', '--scenario', scenarioFile, '--policy', 'default,signal-like', '--out', 'out'], { from: 'user' });

    const out = join(io.cwd, 'out');
    expect(existsSync(join(out, 'tiny-importer.json'))).toBe(false);
    const strict = readResult(join(out, 'tiny-importer.default.json'));
    const lax = readResult(join(out, 'tiny-importer.signal-like.json'));
    expect(strict.policy).toBe('default');
    expect(lax.policy).toBe('signal-like');
    expect(strict.seed).toBe(lax.seed);

    // default: every 5,000-number batch from a fresh hosting account is refused (429), and the
    // abuse engine then suspends the accounts (403).
    const refused = strict.attackers[0]!;
    expect(refused.requests).toBeGreaterThan(0);
    expect(refused.answered).toBe(0);
    expect(refused.exposed).toBe(0);
    expect(refused.refusedByStatus['429']).toBeGreaterThan(0);
    expect((refused.refusedByStatus['429'] ?? 0) + (refused.refusedByStatus['403'] ?? 0)).toBe(refused.requests);
    // signal-like: the same batches are answered.
    const leaked = lax.attackers[0]!;
    expect(leaked.targets).toBe(refused.targets);
    expect(leaked.answered).toBeGreaterThan(0);
    expect(leaked.exposure).toBeGreaterThan(0.5);

    // The summary has a policy column, the two runs of the scenario side by side.
    const table = io.lines.join('\n').split('\n');
    expect(table[0]).toMatch(/^scenario\s+policy\s+attacker/);
    expect(table[2]).toMatch(/^tiny-importer\s+default\s+/);
    expect(table[3]).toMatch(/^tiny-importer\s+signal-like\s+/);
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    expect(html).toContain('<h2>Policies compared</h2>');
    const timing = JSON.parse(readFileSync(join(out, 'timing.json'), 'utf8')) as Array<{ policy: string }>;
    expect(timing.map((t) => t.policy)).toEqual(['default', 'signal-like']);

    // Reproducible per (scenario, seed, policy): a run through the API gives the file byte for byte.
    const ips = ipSourceFrom(await loadIpIntel());
    const again = await runScenario(loadScenario(scenarioFile), ips, (w) => InProcessDriver.create(w, { policy: loadPolicy('signal-like') }));
    expect(JSON.stringify(again.result, null, 2) + '\n').toBe(readFileSync(join(out, 'tiny-importer.signal-like.json'), 'utf8'));
  });

  it('refuses --policy with --target: the deployment has its own', async () => {
    const io = testIo();
    const args = ['simulate', '--scenario', 'targeted', '--target', 'http://127.0.0.1:9', '--service-key', 'k', '--jwt-secret', 's', '--policy', 'signal-like'];
    await expect(createProgram(io).parseAsync(args, { from: 'user' })).rejects.toThrow(/--policy cannot be used with --target/);
    expect(io.errors.join('\n')).toContain('results record it as "remote"');
  });

  it('says, when it starts against a deployment, that its figures are on the deployment’s clock', async () => {
    const io = testIo();
    // Nothing listens on port 9: the run fails after the note.
    const args = ['simulate', '--scenario', 'twitter-2019', '--accounts', '100', '--target', 'http://127.0.0.1:9', '--service-key', 'k', '--jwt-secret', 's', '--out', join(io.cwd, 'target-out')];
    await expect(createProgram(io).parseAsync(args, { from: 'user' })).rejects.toThrow();
    expect(io.errors[0]).toMatch(/^note: --target replays on the scenario's dates .* not comparable with an in-process run$/);
  });

  it('refuses --partitions without --scaled-out, and a count out of range', async () => {
    const io = testIo();
    await expect(createProgram(io).parseAsync(['simulate', '--scenario', 'targeted', '--partitions', '2'], { from: 'user' })).rejects.toThrow(/--partitions is for --scaled-out/);
    await expect(createProgram(testIo()).parseAsync(['simulate', '--scenario', 'targeted', '--scaled-out', '--partitions', '0'], { from: 'user' })).rejects.toThrow(/from 1 to 256/);
  });

  it('refuses an unknown policy and two policies of the same name', async () => {
    const io = testIo();
    const run = (...policy: string[]) => createProgram(io).parseAsync(['simulate', '--scenario', 'targeted', ...policy.flatMap((p) => ['--policy', p])], { from: 'user' });
    await expect(run('no-such-policy')).rejects.toThrow(/no built-in policy of that name/);
    const copy = join(io.cwd, 'copy.json');
    writeFileSync(copy, JSON.stringify(loadPolicy('signal-like').source));
    await expect(run('signal-like', 'copy.json')).rejects.toThrow(/both named "signal-like"/);
  });
});
