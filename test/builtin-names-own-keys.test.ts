import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { createProgram } from '../src/cli/program.js';
import type { CliIo } from '../src/cli/io.js';
import { buildSettings } from '../src/config/config.js';
import { ConfigError } from '../src/config/errors.js';
import { policyFromConfig } from '../src/context/core.js';
import { loadPolicy, PolicyError } from '../src/policy/index.js';
import { loadPolicies } from '../src/simulate/policies.js';
import { loadScenario } from '../src/simulate/run.js';
import { HASH_KEYS, JWT_SECRET, SERVICE_KEY } from './helpers/service.js';

/**
 * Built-in policies and scenarios are found by their own keys only: a member of Object.prototype
 * is no built-in, wherever a name is taken (FINDGUARD_POLICY, `policy check|show`, `simulate
 * --policy|--scenario`, a scenario file's `extends`), and a scenario file must hold an object.
 */
const PROTO_NAMES = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf'];
const dirs: string[] = [];
afterEach(() => {
  process.exitCode = undefined;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'findguard-own-keys-'));
  dirs.push(dir);
  return dir;
}

it('FINDGUARD_POLICY set to a member of Object.prototype stops start-up naming the variable; a built-in name still works', () => {
  const dir = tempDir();
  const settings = (policy: string) => buildSettings({ dataDir: dir, serviceKey: SERVICE_KEY, jwtSecret: JWT_SECRET, hashKeys: HASH_KEYS, policy }, dir).config;
  for (const name of PROTO_NAMES) {
    expect(() => policyFromConfig(settings(name)), name).toThrow(ConfigError);
    expect(() => policyFromConfig(settings(name)), name).toThrow(/^FINDGUARD_POLICY: .*no built-in policy/);
  }
  expect(policyFromConfig(settings('signal-like')).name).toBe('signal-like');
});

it('a bare word that is no built-in is a policy file next to cwd', () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'mine'), JSON.stringify({ ...loadPolicy('default').source, name: 'mine' }));
  const { config } = buildSettings({ dataDir: dir, serviceKey: SERVICE_KEY, jwtSecret: JWT_SECRET, hashKeys: HASH_KEYS, policy: 'mine' }, dir);
  expect(config.policyPath).toBe(join(dir, 'mine'));
  expect(policyFromConfig(config).name).toBe('mine');
});

it('loadPolicy and simulate --policy refuse every member of Object.prototype as a coded PolicyError', () => {
  const dir = tempDir();
  for (const name of PROTO_NAMES) {
    expect(() => loadPolicy(name), name).toThrow(PolicyError);
    expect(() => loadPolicies([name], dir), name).toThrow(/no built-in policy/);
  }
});

it('`policy check __proto__` and `policy show toString` answer "no built-in policy", exit 1', async () => {
  for (const args of [['policy', 'check', '__proto__'], ['policy', 'show', 'toString'], ['policy', 'show', 'hasOwnProperty']]) {
    const dir = tempDir();
    const errors: string[] = [];
    const io: CliIo = { env: { FINDGUARD_DATA_DIR: dir, FINDGUARD_LOG_LEVEL: 'warn' }, cwd: dir, out: () => {}, err: (l) => errors.push(l), interactive: false };
    process.exitCode = undefined;
    await createProgram(io).parseAsync(args, { from: 'user' });
    expect(errors.join('\n'), args.join(' ')).toContain('no built-in policy');
    expect(process.exitCode, args.join(' ')).toBe(1);
  }
});

it('a scenario file must hold an object, and its extends must name a built-in scenario', () => {
  const dir = tempDir();
  for (const [name, text] of [['array.json', '[]'], ['null.json', 'null'], ['number.json', '42'], ['string.json', '"leaked-list"']] as const) {
    writeFileSync(join(dir, name), text);
    expect(() => loadScenario(join(dir, name)), name).toThrow(/must be an object/);
  }
  for (const base of ['constructor', '__proto__', 'toString', 'no-such-scenario']) {
    const file = join(dir, `extends-${base}.json`);
    writeFileSync(file, JSON.stringify({ extends: base }));
    expect(() => loadScenario(file), base).toThrow(/no built-in scenario/);
  }
  const file = join(dir, 'extends-leaked-list.json');
  writeFileSync(file, JSON.stringify({ extends: 'leaked-list' }));
  expect(loadScenario(file)).toMatchObject(loadScenario('leaked-list'));
});
