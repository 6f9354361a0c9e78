import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';

/**
 * Child processes for the integration tests that run findguard (the built CLI) or a private
 * redis-server next to the test: build freshness, free ports, start, wait, stop.
 */

export const ROOT = resolve(import.meta.dirname, '..', '..');
export const CLI = join(ROOT, 'dist', 'cli', 'main.js');

/** src files whose dist/*.js is missing or older than the source (tests are not built). */
function staleSources(dir = join(ROOT, 'src')): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      out.push(...staleSources(path));
      continue;
    }
    if (!entry.name.endsWith('.ts') || entry.name.endsWith('.test.ts') || entry.name.endsWith('.d.ts')) continue;
    const built = join(ROOT, 'dist', relative(join(ROOT, 'src'), path)).replace(/\.ts$/, '.js');
    if (!existsSync(built) || statSync(built).mtimeMs < statSync(path).mtimeMs) out.push(path);
  }
  return out;
}

/**
 * Builds dist/ when any source is newer than its output (as test/cli.test.ts does, but only
 * when needed: tsc takes ~20 s). tsc emits despite type errors from concurrent edits elsewhere,
 * so only a missing entry point is fatal.
 */
export async function ensureBuilt(): Promise<void> {
  if (existsSync(CLI) && staleSources().length === 0) return;
  await promisify(execFile)(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], { cwd: ROOT }).catch(
    (err: { stdout?: string }) => {
      console.warn(`tsc -p tsconfig.build.json reported errors:\n${String(err.stdout ?? err).slice(0, 2000)}`);
    },
  );
  if (!existsSync(CLI)) throw new Error(`${CLI} was not built`);
}

export async function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => ok(port));
    });
  });
}

export interface Spawned {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  running(): boolean;
}

const live = new Set<Spawned>();
// Last resort if the test process ends without its afterAll: never leave a server behind.
process.once('exit', () => {
  for (const p of live) if (p.running()) p.child.kill('SIGKILL');
});

export function spawnProcess(command: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Spawned {
  const child = spawn(command, args, { cwd: opts.cwd ?? ROOT, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (out = (out + s).slice(-200_000)));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (err = (err + s).slice(-200_000)));
  let done = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((ok) =>
    child.once('exit', (code, signal) => {
      done = true;
      ok({ code, signal });
    }),
  );
  // A command that cannot start (ENOENT) reports an error and no exit.
  child.once('error', () => (done = true));
  const p: Spawned = { child, stdout: () => out, stderr: () => err, exited, running: () => !done && child.exitCode === null && child.signalCode === null };
  live.add(p);
  void exited.then(() => live.delete(p));
  return p;
}

/** The built CLI with only the FINDGUARD_* variables given (none inherited from the test's environment). */
export function spawnCli(args: string[], env: Record<string, string>, cwd?: string): Spawned {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FINDGUARD_')));
  return spawnProcess(process.execPath, [CLI, ...args], { ...(cwd ? { cwd } : {}), env: { ...base, FINDGUARD_LOG_LEVEL: 'warn', ...env } });
}

export async function waitForOutput(p: Spawned, pattern: RegExp, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pattern.test(p.stdout())) {
    if (!p.running()) throw new Error(`exited before ${pattern}:\nstdout:\n${p.stdout()}\nstderr:\n${p.stderr()}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}:\nstdout:\n${p.stdout()}\nstderr:\n${p.stderr()}`);
    await sleep(25);
  }
}

/** SIGTERM, then SIGKILL if the process has not exited after `graceMs`. */
export async function stopProcess(p: Spawned, graceMs = 5000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (!p.running()) return { code: p.child.exitCode, signal: p.child.signalCode };
  p.child.kill('SIGTERM');
  const timer = setTimeout(() => p.child.kill('SIGKILL'), graceMs);
  try {
    return await p.exited;
  } finally {
    clearTimeout(timer);
  }
}

export async function killProcess(p: Spawned): Promise<void> {
  if (!p.running()) return;
  p.child.kill('SIGKILL');
  await p.exited;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls until fn returns a value other than undefined; throws with `what` after timeoutMs. */
export async function pollUntil<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await sleep(intervalMs);
  }
}

/** Polls until check() holds; throws with `what` after timeoutMs (generous: the suite runs on two loaded cores). */
export async function eventually(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 30_000, intervalMs = 25): Promise<void> {
  await pollUntil(what, async () => ((await check()) ? true : undefined), timeoutMs, intervalMs);
}

let redisServerBinary: boolean | undefined;
/** Whether `redis-server` can be run here (for tests that start and kill their own). */
export function redisServerAvailable(): boolean {
  redisServerBinary ??= spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
  return redisServerBinary;
}

/**
 * A private redis-server on 127.0.0.1:port, in the foreground (so SIGKILL really takes it
 * down). `dir` with `persist` keeps an append-only file fsynced on every write, so state that
 * was acknowledged survives a SIGKILL and a restart on the same dir.
 */
export async function startRedisServer(port: number, dir: string, persist: boolean): Promise<Spawned> {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--daemonize', 'no', '--dir', dir];
  args.push(...(persist ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']));
  const p = spawnProcess('redis-server', args, { cwd: dir });
  await waitForOutput(p, /Ready to accept connections/, 10_000);
  return p;
}
