import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { createProgram } from '../../src/cli/program.js';
import type { CliIo } from '../../src/cli/io.js';
import { buildSettings } from '../../src/config/config.js';
import { ConfigError } from '../../src/config/errors.js';
import { policyFromConfig } from '../../src/context/core.js';
import { loadScenario } from '../../src/simulate/run.js';
import { HASH_KEYS, JWT_SECRET, SERVICE_KEY } from '../helpers/service.js';

/**
 * Review: built-in policies and scenarios are looked up by name with a plain index,
 * `BUILT_IN_POLICIES[name]` (policy/compile.ts loadPolicy, cli/policy.ts show) and
 * `BUILT_IN_SCENARIOS[name]` (simulate/run.ts loadScenario), so a name that is a member of
 * Object.prototype is "found": FINDGUARD_POLICY=constructor (a bare lower-case word, which
 * config.ts keeps as a built-in's name) makes loadPolicy structuredClone the Object function,
 * and start-up dies on a DataCloneError that names no variable (DESIGN §7: a wrong value stops
 * start-up with a message that names the variable); `findguard policy check constructor` throws the
 * same instead of its coded "no built-in policy" answer; `policy show constructor` prints nothing
 * useful and exits 0; `simulate --scenario constructor` runs Object() as a scenario.
 */
const dirs: string[] = [];
afterEach(() => {
  process.exitCode = undefined;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function testIo(): CliIo & { lines: string[]; errors: string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'findguard-proto-'));
  dirs.push(dir);
  const lines: string[] = [];
  const errors: string[] = [];
  return { env: { FINDGUARD_DATA_DIR: dir, FINDGUARD_LOG_LEVEL: 'warn' }, cwd: dir, out: (l) => lines.push(l), err: (l) => errors.push(l), interactive: false, lines, errors };
}

it('FINDGUARD_POLICY=constructor stops start-up with a ConfigError naming the variable', () => {
  const dir = mkdtempSync(join(tmpdir(), 'findguard-proto-'));
  dirs.push(dir);
  const { config } = buildSettings({ dataDir: dir, serviceKey: SERVICE_KEY, jwtSecret: JWT_SECRET, hashKeys: HASH_KEYS, policy: 'constructor' }, dir);
  let thrown: unknown;
  try {
    policyFromConfig(config);
  } catch (err) {
    thrown = err;
  }
  expect(thrown, String(thrown)).toBeInstanceOf(ConfigError);
  expect(String((thrown as Error).message)).toMatch(/^FINDGUARD_POLICY/);
});

it('`policy check constructor` answers "no built-in policy", exit 1', async () => {
  const io = testIo();
  await createProgram(io).parseAsync(['policy', 'check', 'constructor'], { from: 'user' });
  expect(io.errors.join('\n')).toContain('no built-in policy');
  expect(process.exitCode).toBe(1);
});

it('`policy show constructor` and `policy show __proto__` answer "no built-in policy", exit 1', async () => {
  for (const name of ['constructor', '__proto__']) {
    const io = testIo();
    process.exitCode = undefined;
    await createProgram(io).parseAsync(['policy', 'show', name], { from: 'user' });
    expect(io.errors.join('\n'), name).toContain('no built-in policy');
    expect(process.exitCode, name).toBe(1);
  }
});

it('`simulate --scenario constructor` is not a scenario', () => {
  for (const name of ['constructor', '__proto__', 'toString']) {
    expect(() => loadScenario(name), name).toThrow(/no built-in scenario/);
  }
});
