import SQLite from 'better-sqlite3';
import { existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { loadSettings, type CliIo } from '../src/cli/io.js';
import { createProgram } from '../src/cli/program.js';
import { LIMITS_SCHEMA, openDb } from '../src/db/dialect.js';
import { LimitStateLostError, migrateToLatest } from '../src/db/migrate.js';
import { migrations } from '../src/db/migrations/index.js';
import { signDevToken } from '../src/http/auth/jwt.js';
import { listAudit } from '../src/incidents/audit.js';
import { createService, type Service } from '../src/main.js';

/**
 * The embedded limits' saved state lives in findguard.limits.sqlite, not in the directory's file
 * (db/dialect.ts limitsPathFor): a node saves it before every answer that changed a budget, and a
 * commit to the directory's file drops the page cache of every connection matching against it.
 * Losing that file would start every budget full, so serve refuses to start until an operator
 * accepts the loss (audit-logged).
 */
let dir: string | undefined;
let service: Service | undefined;
afterEach(async () => {
  await service?.close();
  service = undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

function cliIo(d: string): CliIo & { lines: string[]; errors: string[] } {
  const lines: string[] = [];
  const errors: string[] = [];
  return { env: { FINDGUARD_DATA_DIR: d, FINDGUARD_LOG_LEVEL: 'silent', USER: 'ops-erin' }, cwd: d, out: (l) => lines.push(l), err: (l) => errors.push(l), interactive: false, lines, errors };
}

async function started(d: string): Promise<Service> {
  const { config, secrets } = loadSettings(cliIo(d));
  return createService(config, secrets);
}

it("a discovery call writes nothing to the directory's file: the limits' state goes to its own", async () => {
  dir = mkdtempSync(join(tmpdir(), 'fg-limits-file-'));
  service = await started(dir);
  const { secrets } = loadSettings(cliIo(dir));
  const headers = { authorization: `Bearer ${secrets.serviceKey}` };
  for (const [id, phone] of [['lena', '+4915120050001'], ['max', '+4915120050002']] as const) {
    expect((await service.app.inject({ method: 'PUT', url: `/internal/v1/accounts/${id}`, headers, payload: { handle: id, createdAt: '2024-01-01T00:00:00Z', phoneRegion: 'DE' } })).statusCode).toBe(201);
    expect((await service.app.inject({ method: 'POST', url: `/internal/v1/accounts/${id}/contact-points`, headers, payload: { kind: 'phone', value: phone, purposes: ['discovery'], verified: true } })).statusCode).toBeLessThan(300);
  }
  const auth = { authorization: `Bearer ${await signDevToken(secrets.jwt, 'lena', Date.now())}` };
  const lookup = () => service!.app.inject({ method: 'POST', url: '/v1/discovery/lookup', headers: auth, payload: { phone: '+4915120050002' } });
  const sync = (n: number) => service!.app.inject({ method: 'POST', url: '/v1/discovery/sync', headers: auth, payload: { contacts: ['+4915120050002', `+49151200${String(60000 + n)}`] } });
  // The first call's engine evaluation publishes the learned hit rates (once a minute): before the measure.
  expect((await lookup()).statusCode).toBe(200);
  await service.ctx.events.flush();
  const watcher = new SQLite(join(dir, 'findguard.sqlite'), { readonly: true });
  try {
    const version = () => watcher.pragma('data_version', { simple: true }) as number;
    const before = version();
    for (let i = 0; i < 5; i++) {
      const l = await lookup();
      expect(l.statusCode).toBe(200);
      expect(l.json<{ match: unknown }>().match).not.toBeNull();
      expect((await sync(i)).statusCode).toBe(200);
    }
    await service.ctx.events.flush();
    // Another connection's commit to the file changes the version this connection reads.
    expect(version()).toBe(before);
  } finally {
    watcher.close();
  }
  const limits = new SQLite(join(dir, 'findguard.limits.sqlite'), { readonly: true });
  try {
    expect((limits.prepare('SELECT count(*) AS n FROM limit_state').get() as { n: number }).n).toBeGreaterThan(0);
  } finally {
    limits.close();
  }
});

it("the migration moves the saved state's rows to the limits file and back", async () => {
  dir = mkdtempSync(join(tmpdir(), 'fg-limits-file-'));
  const db = openDb({ dialect: 'sqlite', path: join(dir, 'findguard.sqlite') });
  try {
    await migrateToLatest(db.kysely);
    const where = () => ({
      main: (db.sqlite!.prepare(`SELECT count(*) AS n FROM main.sqlite_master WHERE tbl_name = 'limit_state'`).get() as { n: number }).n,
      limits: (db.sqlite!.prepare(`SELECT count(*) AS n FROM ${LIMITS_SCHEMA}.sqlite_master WHERE tbl_name = 'limit_state'`).get() as { n: number }).n,
    });
    // The table and its primary key, in the limits file only (its index on expires_at is gone: 20270106000000).
    expect(where()).toEqual({ main: 0, limits: 2 });
    await db.kysely.insertInto('limit_state').values({ key: 'account:a', state: '{"t":1}', expires_at: 99 }).execute();
    const loose = db.kysely as never;
    await migrations['20261230000000-limit-state-own-file']!.down!(loose);
    expect(where()).toEqual({ main: 2, limits: 0 });
    await migrations['20261230000000-limit-state-own-file']!.up(loose);
    expect(where()).toEqual({ main: 0, limits: 2 });
    // The index's own migration, undone and done again, where the table lives.
    await migrations['20270106000000-limit-state-expiry-index']!.down!(loose);
    expect(where()).toEqual({ main: 0, limits: 3 });
    await migrations['20270106000000-limit-state-expiry-index']!.up(loose);
    expect(where()).toEqual({ main: 0, limits: 2 });
    expect(await db.kysely.selectFrom('limit_state').selectAll().execute()).toEqual([{ key: 'account:a', state: '{"t":1}', expires_at: 99 }]);
  } finally {
    await db.close();
  }
});

it('a missing limits file stops serve until an operator accepts the loss, audit-logged', async () => {
  dir = mkdtempSync(join(tmpdir(), 'fg-limits-file-'));
  const d = dir;
  await (await started(d)).close();
  for (const suffix of ['', '-wal', '-shm']) rmSync(join(d, `findguard.limits.sqlite${suffix}`), { force: true });
  await expect(started(d)).rejects.toThrow(LimitStateLostError);
  await expect(started(d)).rejects.toThrow(/findguard\.limits\.sqlite is missing[\s\S]*findguard limits accept-lost-state --reason/);
  expect(existsSync(join(d, 'findguard.sqlite'))).toBe(true);

  const io = cliIo(d);
  const run = async (...args: string[]) => {
    io.lines.length = 0;
    io.errors.length = 0;
    process.exitCode = undefined;
    await createProgram(io).parseAsync(args, { from: 'user' });
    const code = process.exitCode;
    process.exitCode = undefined;
    return { lines: [...io.lines], errors: [...io.errors], code };
  };
  const status = await run('limits', 'status');
  expect(status.code).toBe(2);
  expect(status.lines.join('\n')).toMatch(/findguard\.limits\.sqlite is missing: serve refuses to start/);
  const accepted = await run('limits', 'accept-lost-state', '--reason', 'the limits file was not in the backup; budgets since 09:00 are forgotten');
  expect(accepted.code).toBeUndefined();
  expect(accepted.lines[0]).toMatch(/^started an empty limits file at .*findguard\.limits\.sqlite: serve starts again, every budget full$/);
  service = await started(d);
  // The new file's table is the one the migrations make now: no index on expires_at.
  expect(service.ctx.db.sqlite!.prepare(`SELECT name FROM ${LIMITS_SCHEMA}.sqlite_master WHERE tbl_name = 'limit_state' ORDER BY name`).all()).toEqual([
    { name: 'limit_state' },
    { name: 'sqlite_autoindex_limit_state_1' },
  ]);
  const [entry] = await listAudit(service.ctx.db.kysely, { subject: 'limits:sqlite', limit: 1 });
  expect(entry).toMatchObject({ action: 'limits.accept-lost-state', tool: 'cli', actor: { name: 'ops-erin' }, reason: expect.stringContaining('not in the backup') });
  const healthy = await run('limits', 'status');
  expect(healthy.code).toBeUndefined();
  expect(healthy.lines.join('\n')).not.toMatch(/missing/);
  const again = await run('limits', 'accept-lost-state', '--reason', 'twice');
  expect(again.code).toBe(1);
  expect(again.errors.join('\n')).toMatch(/nothing to accept/);
});

it("a database opened through a symlink attaches the real file's events and limits files, not new ones", async () => {
  dir = mkdtempSync(join(tmpdir(), 'fg-limits-file-'));
  const real = join(dir, 'findguard.sqlite');
  const first = openDb({ dialect: 'sqlite', path: real });
  await migrateToLatest(first.kysely);
  await first.kysely.insertInto('limit_state').values({ key: 'account:a', state: '{}', expires_at: 99 }).execute();
  await first.close();
  const link = join(dir, 'linked.sqlite');
  symlinkSync(real, link);
  const linked = openDb({ dialect: 'sqlite', path: link });
  try {
    const files = linked.sqlite!.prepare('SELECT name, file FROM pragma_database_list').all() as Array<{ name: string; file: string }>;
    expect(files.find((f) => f.name === 'limits')?.file).toBe(join(dir, 'findguard.limits.sqlite'));
    expect(files.find((f) => f.name === 'events')?.file).toBe(join(dir, 'findguard.events.sqlite'));
    expect(await linked.kysely.selectFrom('limit_state').select('key').execute()).toEqual([{ key: 'account:a' }]);
    expect(existsSync(join(dir, 'linked.limits.sqlite'))).toBe(false);
  } finally {
    await linked.close();
  }
});
