import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadSettings, type CliIo } from '../src/cli/io.js';
import { createProgram } from '../src/cli/program.js';
import { createAppContext, createCliContext } from '../src/context.js';
import { signDevToken } from '../src/http/auth/jwt.js';
import { createService, type Service } from '../src/main.js';
import { accountId } from '../src/population/index.js';
import { NUMBERS } from './helpers/fixtures.js';
import { freePort } from './helpers/processes.js';

const ROOT = resolve(import.meta.dirname, '..');
const CLI = join(ROOT, 'dist', 'cli', 'main.js');

const dirs: string[] = [];
function tempDir(prefix = 'findguard-cli-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

interface TestIo extends CliIo {
  lines: string[];
  errors: string[];
}

/** A CliIo on its own data dir; nothing reaches the real environment or terminal. */
function testIo(dataDir = tempDir()): TestIo {
  const lines: string[] = [];
  const errors: string[] = [];
  return {
    env: { FINDGUARD_DATA_DIR: dataDir, FINDGUARD_LOG_LEVEL: 'warn' },
    cwd: dataDir,
    out: (line) => lines.push(line),
    err: (line) => errors.push(line),
    interactive: false,
    lines,
    errors,
  };
}

async function run(io: TestIo, ...args: string[]): Promise<void> {
  await createProgram(io).parseAsync(args, { from: 'user' });
}

/** The whole service (internal API and discovery) on the data dir a command used. */
async function serviceOn(io: CliIo): Promise<Service & { internal: { authorization: string } }> {
  const { config, secrets } = loadSettings(io);
  const service = await createService(config, secrets);
  return { ...service, internal: { authorization: `Bearer ${secrets.serviceKey}` } };
}

async function putAccount(svc: Service & { internal: { authorization: string } }, id: string): Promise<void> {
  const res = await svc.app.inject({ method: 'PUT', url: `/internal/v1/accounts/${id}`, headers: svc.internal, payload: { handle: `h_${id.replace(/[^a-z0-9]/gi, '')}` } });
  expect(res.statusCode, res.body).toBeLessThan(300);
}

function lookup(svc: Service, token: string, payload: Record<string, unknown>) {
  return svc.app.inject({ method: 'POST', url: '/v1/discovery/lookup', headers: { authorization: `Bearer ${token}` }, payload });
}

afterEach(() => {
  // Commands set process.exitCode on failed lines; never leak it into the test run.
  process.exitCode = undefined;
});

describe('findguard migrate', () => {
  it('applies the migrations on a fresh data dir, then says it is up to date', async () => {
    const io = testIo();
    await run(io, 'migrate');
    expect(io.lines.length).toBeGreaterThan(0);
    for (const line of io.lines) expect(line).toMatch(/^applied: \S+/);
    expect(existsSync(join(io.cwd, 'findguard.sqlite'))).toBe(true);

    const again = testIo(io.cwd);
    await run(again, 'migrate');
    expect(again.lines).toEqual(['database is up to date']);

    // The lookup events live in a file of their own; if it is lost, migrate starts a new one and says so.
    expect(existsSync(join(io.cwd, 'findguard.events.sqlite'))).toBe(true);
    for (const suffix of ['', '-wal', '-shm']) rmSync(join(io.cwd, `findguard.events.sqlite${suffix}`), { force: true });
    const lost = testIo(io.cwd);
    await run(lost, 'migrate');
    expect(lost.lines).toEqual(['database is up to date', `the lookup events file was missing: started a new, empty one at ${join(io.cwd, 'findguard.events.sqlite')}`]);
  });

  it('warns on stderr about a data folder others can read, and refuses one others can write, naming it', async () => {
    const io = testIo();
    chmodSync(io.cwd, 0o755);
    await run(io, 'migrate');
    expect(io.errors).toEqual([expect.stringMatching(new RegExp(`^warning: ${io.cwd} is readable by group and others \\(mode 0755\\)`))]);
    chmodSync(io.cwd, 0o777);
    const refused = testIo(io.cwd);
    await expect(run(refused, 'migrate')).rejects.toThrow(new RegExp(`^FINDGUARD_DATA_DIR: ${io.cwd} is writable by group and others`));
    expect(refused.lines).toEqual([]);
  });
});

describe('findguard seed', () => {
  it('adds a synthetic population that is in the directory afterwards', async () => {
    const io = testIo();
    await run(testIo(io.cwd), 'migrate');
    await run(io, 'seed', '--accounts', '300', '--seed', '5');
    const report = io.lines.find((l) => /accounts, .* contact points from/.test(l));
    expect(report, io.lines.join('\n')).toMatch(/^300 accounts, [\d,]+ contact points from 300 lines in [\d.]+ s; 0 lines failed$/);
    expect(process.exitCode).toBeUndefined();
    expect(io.errors.some((l) => /^100% \(300 accounts\)$/.test(l))).toBe(true);

    const { config, secrets } = loadSettings(io);
    const ctx = await createCliContext(config, secrets);
    try {
      const row = await ctx.db.kysely.selectFrom('accounts').select(sql<number>`count(*)`.as('n')).executeTakeFirstOrThrow();
      expect(Number(row.n)).toBe(300);
    } finally {
      await ctx.close();
    }
    const svc = await serviceOn(io);
    try {
      for (const [id, status] of [[accountId(0), 200], [accountId(299), 200], [accountId(300), 404]] as const) {
        const res = await svc.app.inject({ method: 'GET', url: `/internal/v1/accounts/${id}`, headers: svc.internal });
        expect(res.statusCode, id).toBe(status);
      }
    } finally {
      await svc.close();
    }
  });

  it('refuses a bad --accounts value', async () => {
    const io = testIo();
    await expect(run(io, 'seed', '--accounts', '0')).rejects.toMatchObject({ code: 'commander.invalidArgument' });
    expect(io.errors.join('\n')).toContain('--accounts');
  });
});

describe('findguard import', () => {
  it('imports the good lines, reports the bad one by number and exits 1', async () => {
    const io = testIo();
    const file = join(io.cwd, 'accounts.ndjson');
    const lines = [
      JSON.stringify({ accountId: 'cli-imp-1', handle: 'one', contactPoints: [{ kind: 'phone', value: NUMBERS.usA, purposes: ['discovery'], verified: true }] }),
      JSON.stringify({ accountId: 'cli-imp-2', handle: 'two', contactPoints: [{ kind: 'phone', value: NUMBERS.gbA, purposes: ['discovery', 'two_factor'], verified: true }] }),
      '{"accountId": "cli-imp-3", ',
      JSON.stringify({ accountId: 'cli-imp-4', handle: 'four', contactPoints: [{ kind: 'phone', value: NUMBERS.deA, purposes: ['two_factor'], verified: true }] }),
    ];
    writeFileSync(file, lines.join('\n') + '\n');
    try {
      await run(testIo(io.cwd), 'migrate');
      await run(io, 'import', file);
      expect(process.exitCode).toBe(1);
    } finally {
      process.exitCode = undefined;
    }
    expect(io.lines[0]).toMatch(/^3 accounts, 3 contact points from 4 lines in [\d.]+ s; 1 lines failed$/);
    expect(io.lines).toContainEqual(expect.stringMatching(/^ {2}line 3: invalid_json: /));
    expect(io.lines).toHaveLength(2);
    // The report names lines, never their values.
    expect(io.lines.join('\n')).not.toContain(NUMBERS.usA.slice(2));

    const svc = await serviceOn(io);
    try {
      await putAccount(svc, 'cli-searcher');
      const token = await signDevToken(svc.ctx.secrets.jwt, 'cli-searcher', Date.now(), 600);
      expect((await lookup(svc, token, { phone: NUMBERS.usA })).json().match).toEqual({ accountId: 'cli-imp-1', handle: 'one' });
      expect((await lookup(svc, token, { phone: NUMBERS.gbA })).json().match).toEqual({ accountId: 'cli-imp-2', handle: 'two' });
      // Imported, but 2FA-only: not discoverable.
      expect((await lookup(svc, token, { phone: NUMBERS.deA })).json().match).toBeNull();
      const missing = await svc.app.inject({ method: 'GET', url: '/internal/v1/accounts/cli-imp-3', headers: svc.internal });
      expect(missing.statusCode).toBe(404);
    } finally {
      await svc.close();
    }
  });

  it('a clean file leaves the exit code alone', async () => {
    const io = testIo();
    const file = join(io.cwd, 'ok.ndjson');
    writeFileSync(file, JSON.stringify({ accountId: 'cli-ok-1', handle: 'ok' }) + '\n');
    await run(testIo(io.cwd), 'migrate');
    await run(io, 'import', file);
    expect(process.exitCode).toBeUndefined();
    expect(io.lines).toEqual([expect.stringMatching(/^1 accounts, 0 contact points from 1 lines in [\d.]+ s; 0 lines failed$/)]);
  });
});

describe('findguard dev-token', () => {
  it('prints a JWT the service accepts for that account', async () => {
    const io = testIo();
    await run(io, 'dev-token', 'acct-1', '--ttl', '600');
    expect(io.lines).toHaveLength(1);
    const token = io.lines[0]!;
    expect(token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    const payload = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as { sub: string; exp: number; iat: number };
    expect(payload.sub).toBe('acct-1');
    expect(payload.exp - payload.iat).toBe(600);

    const svc = await serviceOn(io);
    try {
      await putAccount(svc, 'acct-1');
      const ok = await lookup(svc, token, { phone: NUMBERS.frA });
      expect(ok.statusCode, ok.body).toBe(200);
      expect(ok.json().match).toBeNull();
      const forged = await lookup(svc, `${token.slice(0, -4)}AAAA`, { phone: NUMBERS.frA });
      expect(forged.statusCode).toBe(401);
    } finally {
      await svc.close();
    }
  });

  it('refuses an invalid account id with a message', async () => {
    const io = testIo();
    await expect(run(io, 'dev-token', 'bad id!')).rejects.toMatchObject({ code: 'commander.invalidArgument' });
    expect(io.lines).toEqual([]);
    expect(io.errors.join('\n')).toContain('not a valid account id');
  });

  it('refuses an account id that is an email address or a phone number, which the JWT check would refuse', async () => {
    for (const id of ['someone@example.org', '004915120050009']) {
      const io = testIo();
      await expect(run(io, 'dev-token', id)).rejects.toMatchObject({ code: 'commander.invalidArgument' });
      expect(io.lines).toEqual([]);
      expect(io.errors.join('\n')).toContain('never a phone number or an email address');
    }
  });

  it('caps the lifetime at FINDGUARD_JWT_MAX_LIFETIME, saying so on stderr', async () => {
    const io = testIo();
    io.env.FINDGUARD_JWT_MAX_LIFETIME = '15m';
    await run(io, 'dev-token', 'acct-1', '--ttl', '86400');
    const payload = JSON.parse(Buffer.from(io.lines[0]!.split('.')[1]!, 'base64url').toString('utf8')) as { exp: number; iat: number };
    expect(payload.exp - payload.iat).toBe(900);
    expect(io.errors).toEqual(['FINDGUARD_JWT_MAX_LIFETIME caps the token at 900 seconds']);
  });

  it('refuses a bad --ttl', async () => {
    const io = testIo();
    await expect(run(io, 'dev-token', 'acct-1', '--ttl', '0')).rejects.toMatchObject({ code: 'commander.invalidArgument' });
    expect(io.lines).toEqual([]);
  });

  it('cannot sign when the deployment verifies with a JWKS', async () => {
    const io = testIo();
    io.env.FINDGUARD_JWKS_URL = 'https://issuer.example/.well-known/jwks.json';
    await expect(run(io, 'dev-token', 'acct-1')).rejects.toThrow(/HS256/);
    expect(io.lines).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// The built CLI, as an operator runs it.

const execFileAsync = promisify(execFile);

beforeAll(async () => {
  // Others may be editing src concurrently: tsc still emits on type errors, so only a missing
  // entry point is fatal here (type errors are caught by the typecheck run).
  await execFileAsync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], {
    cwd: ROOT,
  }).catch((err: { stdout?: string }) => {
    console.warn(`tsc -p tsconfig.build.json reported errors:\n${String(err.stdout ?? err).slice(0, 2000)}`);
  });
  if (!existsSync(CLI)) throw new Error(`${CLI} was not built`);
}, 90_000);


interface Spawned {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function spawnCli(args: string[], cwd: string, env: Record<string, string>): Spawned {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FINDGUARD_')));
  const child = spawn(process.execPath, [CLI, ...args], { cwd, env: { ...base, FINDGUARD_LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((ok) => child.once('exit', (code, signal) => ok({ code, signal })));
  return { child, stdout: () => out, stderr: () => err, exited };
}

async function waitFor(p: Spawned, pattern: RegExp, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  let exited = false;
  void p.exited.then(() => (exited = true));
  while (!pattern.test(p.stdout())) {
    if (exited) throw new Error(`exited before ${pattern}:\nstdout:\n${p.stdout()}\nstderr:\n${p.stderr()}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}:\nstdout:\n${p.stdout()}\nstderr:\n${p.stderr()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface Banner {
  url: string;
  token: string;
  curl: { url: string; authorization: string; body: string };
}

/** Reads the demo banner and turns its curl line back into a request. */
function parseBanner(stdout: string): Banner {
  const url = /^findguard listening on (http:\/\/\S+) /m.exec(stdout)?.[1];
  const token = /^ {2}([\w-]+\.[\w-]+\.[\w-]+)$/m.exec(stdout)?.[1];
  const curl = /^ {2}curl -s -X POST (\S+) -H '(authorization: Bearer [^']+)' -H 'content-type: application\/json' -d '([^']+)'$/m.exec(stdout);
  if (!url || !token || !curl) throw new Error(`no demo banner in:\n${stdout}`);
  return { url, token, curl: { url: curl[1]!, authorization: curl[2]!.slice('authorization: '.length), body: curl[3]! } };
}

async function runCurl(c: Banner['curl']): Promise<Response> {
  return fetch(c.url, { method: 'POST', headers: { authorization: c.authorization, 'content-type': 'application/json' }, body: c.body });
}

async function stop(p: Spawned): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  p.child.kill('SIGTERM');
  const timeout = setTimeout(() => p.child.kill('SIGKILL'), 10_000);
  try {
    return await p.exited;
  } finally {
    clearTimeout(timeout);
  }
}

describe('findguard policy', () => {
  it('check summarises a valid file and exits 1 naming the problem in a bad one', async () => {
    const io = testIo();
    await run(io, 'policy', 'show', 'signal-like');
    const file = join(io.cwd, 'mine.yaml');
    writeFileSync(file, io.lines.join('\n'));
    io.lines.length = 0;
    await run(io, 'policy', 'check', file);
    expect(io.lines[0]).toBe('policy signal-like: 1 tiers, 2 layers');
    expect(io.lines).toContain('  account-new (account, new): all: 50000+144/d');
    expect(io.lines.at(-1)).toBe('ok');
    expect(process.exitCode).toBeUndefined();

    writeFileSync(file, 'name: broken\ntiers: [{name: all}]\nlayers: [{id: x, subject: account, cost: new, limits: {gold: {burst: 1, refill: 1, per: 1d}}}]\n');
    await run(io, 'policy', 'check', file);
    expect(io.errors.at(-1)).toContain('layer x sets limits for unknown tier "gold"');
    expect(process.exitCode).toBe(1);
  });

  it('a bad FINDGUARD_POLICY stops start-up naming the variable', async () => {
    const io = testIo();
    io.env.FINDGUARD_POLICY = join(io.cwd, 'missing.yaml');
    await run(testIo(io.cwd), 'migrate');
    const settings = () => loadSettings(io);
    await expect(createAppContext(settings().config, settings().secrets)).rejects.toThrow(/^FINDGUARD_POLICY: policy .*missing.yaml: no built-in policy/);
    io.env.FINDGUARD_POLICY = 'signal-like';
    const ctx = await createAppContext(settings().config, settings().secrets);
    expect(ctx.limits.policy.name).toBe('signal-like');
    await ctx.close();
  });
});

describe('findguard serve (built CLI)', () => {
  const running: Spawned[] = [];
  afterAll(() => {
    for (const p of running) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  });

  it('--demo seeds once, prints a working curl, serves health and docs, and restarts cleanly', async () => {
    const cwd = tempDir('findguard-serve-');
    const port = await freePort();
    const first = spawnCli(['serve', '--demo'], cwd, { FINDGUARD_PORT: String(port) });
    running.push(first);
    await waitFor(first, /curl -s -X POST .*'\s*$/m, 60_000);
    const banner = parseBanner(first.stdout());
    expect(banner.url).toBe(`http://127.0.0.1:${port}`);
    expect(first.stdout()).toContain(`OpenAPI: ${banner.url}/docs`);
    expect(banner.curl.url).toBe(`${banner.url}/v1/discovery/lookup`);
    expect(banner.curl.authorization).toBe(`Bearer ${banner.token}`);
    expect(Object.keys(JSON.parse(banner.curl.body) as object)).toEqual(['phone']);
    expect(first.stderr()).toContain('seeded a demo population of 2000 accounts');

    const res = await runCurl(banner.curl);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { match: { accountId: string; handle: string } | null };
    expect(body.match).not.toBeNull();
    expect(body.match!.accountId).toMatch(/^acct-\d{6}$/);
    expect(first.stdout()).toContain(`Find the demo account ${body.match!.accountId} (@${body.match!.handle})`);

    const secrets = join(cwd, 'data', 'secrets.json');
    expect(existsSync(secrets)).toBe(true);
    expect(statSync(secrets).mode & 0o777).toBe(0o600);

    expect((await fetch(`${banner.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${banner.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', checks: { database: 'ok', limits: 'ok', singleNode: 'ok', decisions: 'ok' } });
    const docs = await fetch(`${banner.url}/docs/json`);
    expect(docs.status).toBe(200);
    const openapi = (await docs.json()) as { openapi: string; paths: Record<string, unknown> };
    expect(openapi.openapi).toMatch(/^3\./);
    const paths = Object.keys(openapi.paths);
    expect(paths).toEqual(expect.arrayContaining(['/v1/discovery/lookup', '/v1/discovery/sync', '/internal/v1/import']));
    expect(paths.some((p) => p.startsWith('/internal/v1/accounts/'))).toBe(true);

    // A dev token from the CLI on the same data dir is accepted by the running server.
    const searcher = /^Demo: signed in as (acct-\d{6}) /m.exec(first.stdout())?.[1];
    expect(searcher).toBeDefined();
    const io = testIo(join(cwd, 'data'));
    await run(io, 'dev-token', searcher!, '--ttl', '600');
    const viaDevToken = await runCurl({ ...banner.curl, authorization: `Bearer ${io.lines[0]}` });
    expect(viaDevToken.status).toBe(200);
    expect(((await viaDevToken.json()) as typeof body).match).toEqual(body.match);

    expect(await stop(first)).toEqual({ code: 0, signal: null });
    expect(first.stderr()).toContain('shutting down');

    const second = spawnCli(['serve', '--demo'], cwd, { FINDGUARD_PORT: String(port) });
    running.push(second);
    await waitFor(second, /curl -s -X POST .*'\s*$/m, 60_000);
    expect(second.stderr()).not.toContain('seeded');
    const again = parseBanner(second.stdout());
    expect(again.curl.body).toBe(banner.curl.body);
    for (const curl of [banner.curl, again.curl]) {
      const r = await runCurl(curl);
      expect(r.status).toBe(200);
      expect(((await r.json()) as typeof body).match).toEqual(body.match);
    }
    expect(await stop(second)).toEqual({ code: 0, signal: null });
    // Two starts of a real process, each waited for up to a minute: the suite's 30 s default cut it
    // short on a loaded machine.
  }, 180_000);

  it('a bad config value exits 78 naming the variable', async () => {
    const cwd = tempDir('findguard-serve-');
    const p = spawnCli(['serve'], cwd, { FINDGUARD_PORT: 'abc' });
    running.push(p);
    const { code } = await p.exited;
    expect(code).toBe(78);
    expect(p.stderr()).toMatch(/configuration error: FINDGUARD_PORT: /);
    expect(p.stdout()).not.toContain('listening');
  });

  it('a bad dev-token id exits non-zero with a message', async () => {
    const p = spawnCli(['dev-token', 'bad id!'], tempDir('findguard-serve-'), {});
    running.push(p);
    const { code } = await p.exited;
    expect(code).toBe(1);
    expect(p.stdout()).toBe('');
    expect(p.stderr()).toContain('not a valid account id');
  });
});
