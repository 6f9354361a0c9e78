import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadSettings, type CliIo } from '../../src/cli/io.js';
import { createProgram } from '../../src/cli/program.js';
import { createCliContext, type CliContext } from '../../src/context.js';
import { createTestDatabase } from './postgres.js';
import { HASH_KEYS, JWT_SECRET, SERVICE_KEY, type Dialect } from './service.js';

export interface TestIo extends CliIo {
  lines: string[];
  errors: string[];
}

/** A data folder (on PostgreSQL, a database of its own), migrated, where CLI commands run in-process. */
export interface CliHarness {
  dataDir: string;
  /** An io over the harness's environment, with `extra` on top; collects what a command prints. */
  testIo(extra?: NodeJS.ProcessEnv): TestIo;
  /** Runs `findguard ARGS...` and returns what it printed. */
  run(...args: string[]): Promise<TestIo>;
  /** A CLI context on the same settings, closed after fn. */
  withCtx<T>(fn: (ctx: CliContext) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export async function startCliHarness(dialect: Dialect, name: string, extraEnv: NodeJS.ProcessEnv = {}): Promise<CliHarness> {
  const dataDir = mkdtempSync(join(tmpdir(), `findguard-${name}-`));
  let env: NodeJS.ProcessEnv = { FINDGUARD_DATA_DIR: dataDir, FINDGUARD_LOG_LEVEL: 'warn', ...extraEnv };
  let drop: (() => Promise<void>) | undefined;
  if (dialect === 'postgres') {
    const pg = await createTestDatabase();
    drop = pg.drop;
    env = { ...env, FINDGUARD_DATABASE_URL: pg.url, FINDGUARD_HASH_KEYS: HASH_KEYS, FINDGUARD_SERVICE_KEY: SERVICE_KEY, FINDGUARD_JWT_SECRET: JWT_SECRET };
  }
  const testIo = (extra: NodeJS.ProcessEnv = {}): TestIo => {
    const lines: string[] = [];
    const errors: string[] = [];
    return { env: { ...env, ...extra }, cwd: dataDir, out: (l) => lines.push(l), err: (l) => errors.push(l), interactive: false, lines, errors };
  };
  const run = async (...args: string[]): Promise<TestIo> => {
    const io = testIo();
    await createProgram(io).parseAsync(args, { from: 'user' });
    return io;
  };
  const withCtx = async <T>(fn: (ctx: CliContext) => Promise<T>): Promise<T> => {
    const { config, secrets } = loadSettings(testIo());
    const ctx = await createCliContext(config, secrets);
    try {
      return await fn(ctx);
    } finally {
      await ctx.close();
    }
  };
  // Migrations are an explicit step: no CLI command migrates on its own.
  await run('migrate');
  return {
    dataDir,
    testIo,
    run,
    withCtx,
    close: async () => {
      await drop?.();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
