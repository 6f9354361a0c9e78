import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

// The layering rules (.dependency-cruiser.cjs, README "Layout") bite: a small tree that breaks each
// of them is reported rule by rule, what they allow is not, and findguard's own tree is clean.

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const depcruise = join(root, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs');

interface Violation {
  from: string;
  to: string;
  rule: { name: string };
}

/** Runs `depcruise src` with findguard's config in cwd; resolves with the violations found. */
function cruise(cwd: string): Promise<Violation[]> {
  const args = [depcruise, 'src', '--config', join(root, '.dependency-cruiser.cjs'), '--output-type', 'json'];
  return new Promise((done, fail) => {
    // depcruise exits non-zero when it finds violations; the JSON report is on stdout either way.
    execFile(process.execPath, args, { cwd, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      try {
        done((JSON.parse(stdout) as { summary: { violations: Violation[] } }).summary.violations);
      } catch {
        fail(new Error(`depcruise did not report: ${err?.message ?? ''}\n${stderr}`));
      }
    });
  });
}

const show = (vs: Violation[]) => vs.map((v) => `${v.rule.name}: ${v.from} -> ${v.to}`).sort();

/** file -> the findguard modules it imports (relative to src/). */
const FIXTURE: Record<string, string[]> = {
  'policy/index.ts': ['policy/schema.ts'],
  'policy/schema.ts': [],
  'abuse/engine.ts': ['policy/index.ts'],
  'abuse/back.ts': ['limits/leak.ts', 'policy/schema.ts'],
  'limits/leak.ts': ['abuse/engine.ts', 'policy/index.ts'],
  // Tests beside the code are out of scope: this one breaks limits-not-abuse and is not reported.
  'limits/leak.test.ts': ['abuse/engine.ts'],
  'util/a.ts': ['util/b.ts'],
  'util/b.ts': ['util/a.ts'],
  'protocol/wire.ts': ['util/a.ts'],
  'client/sdk.ts': ['protocol/wire.ts', 'util/a.ts'],
  'simulate/run.ts': ['client/sdk.ts', 'policy/index.ts'],
  'http/route.ts': ['client/sdk.ts', 'simulate/run.ts', 'policy/index.ts'],
  'directory/service.ts': ['http/route.ts', 'cli/main.ts'],
  'cli/main.ts': ['simulate/run.ts', 'http/route.ts', 'policy/index.ts'],
};

const BROKEN = [
  'abuse-not-limits: src/abuse/back.ts -> src/limits/leak.ts',
  'policy-one-entry: src/abuse/back.ts -> src/policy/schema.ts',
  'limits-not-abuse: src/limits/leak.ts -> src/abuse/engine.ts',
  'no-circular: src/util/a.ts -> src/util/b.ts', // a cycle is reported once
  'protocol-is-a-leaf: src/protocol/wire.ts -> src/util/a.ts',
  'client-stands-alone: src/client/sdk.ts -> src/util/a.ts',
  'server-not-client: src/http/route.ts -> src/client/sdk.ts',
  'simulate-only-from-cli: src/http/route.ts -> src/simulate/run.ts',
  'domain-not-adapters: src/directory/service.ts -> src/http/route.ts',
  'domain-not-adapters: src/directory/service.ts -> src/cli/main.ts',
  'cli-is-the-top: src/directory/service.ts -> src/cli/main.ts',
  'no-unresolvable: src/util/b.ts -> ./missing.js',
];

describe('layering (dependency-cruiser)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'findguard-layering-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reports every rule a tree breaks, and nothing the rules allow', async () => {
    copyFileSync(join(root, 'tsconfig.json'), join(dir, 'tsconfig.json'));
    for (const [file, imports] of Object.entries(FIXTURE)) {
      const from = join(dir, 'src', file);
      mkdirSync(dirname(from), { recursive: true });
      // Every fixture file is one folder below src/, as findguard's modules are.
      const lines = imports.map((to, i) => {
        const spec = dirname(to) === dirname(file) ? `./${to.slice(dirname(to).length + 1)}` : `../${to}`;
        return `import * as m${i} from '${spec.replace(/\.ts$/, '.js')}';\nexport const use${i} = m${i};`;
      });
      if (file === 'util/b.ts') lines.push(`export * from './missing.js';`);
      writeFileSync(from, `${lines.join('\n')}\nexport const here = ${JSON.stringify(file)};\n`);
    }
    const found = show(await cruise(dir));
    expect(found).toEqual([...BROKEN].sort());
  }, 60_000);

  it('finds findguard itself clean', async () => {
    expect(show(await cruise(root))).toEqual([]);
  }, 60_000);
});
