import { Migrator, sql, type Kysely } from 'kysely';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import type { CliIo } from '../src/cli/io.js';
import { createProgram } from '../src/cli/program.js';
import { openDb, type Db } from '../src/db/dialect.js';
import { migrateToLatest } from '../src/db/migrate.js';
import { migrations } from '../src/db/migrations/index.js';
import type { Database } from '../src/db/schema.js';
import { listAudit, recordAudit, verifyAudit, type NewAuditEntry } from '../src/incidents/index.js';
import { SeededRandom } from '../src/util/random.js';
import { createTestDatabase } from './helpers/postgres.js';
import { describeEachDialect, HASH_KEYS, JWT_SECRET, SERVICE_KEY, type Dialect } from './helpers/service.js';

/**
 * The hash-chained audit trail (src/incidents/audit.ts): appends from many connections never fork
 * the chain; the database refuses edits; an edit, a deleted entry or a cut tail made behind its
 * back (triggers dropped) is found by verify and by `findguard audit verify`; rows written before
 * the chain existed are chained by the migration; the CLI's operator commands are audited.
 */

afterEach(() => {
  process.exitCode = undefined;
});

const T = Date.parse('2026-12-01T00:00:00Z');
const entry = (i: number, extra: Partial<NewAuditEntry> = {}): NewAuditEntry => ({
  actor: { id: 'op_1', name: 'alice', role: 'analyst', via: 'password+totp' },
  from: '203.0.113.5',
  tool: 'console',
  action: 'account.reinstate',
  subject: `account:a-${i}`,
  reason: `organic ${i}`,
  before: { status: 'suspended' },
  after: { status: 'active' },
  ...extra,
});

describeEachDialect('audit chain', (dialect) => {
  const opened: Array<{ db: Db; drop?: () => Promise<void>; dir?: string }> = [];
  afterAll(async () => {
    for (const o of opened) {
      await o.db.close();
      await o.drop?.();
      if (o.dir) rmSync(o.dir, { recursive: true, force: true });
    }
  });

  /** A database of its own, migrated, with a URL other connections can open. */
  async function fresh(): Promise<{ db: Db; open(): Db }> {
    if (dialect === 'postgres') {
      const pg = await createTestDatabase('fg_audit');
      const open = (): Db => {
        const d = openDb({ dialect: 'postgres', url: pg.url });
        opened.push({ db: d });
        return d;
      };
      const db = openDb({ dialect: 'postgres', url: pg.url });
      opened.unshift({ db, drop: pg.drop });
      await migrateToLatest(db.kysely);
      return { db, open };
    }
    const dir = mkdtempSync(join(tmpdir(), 'findguard-audit-'));
    const path = join(dir, 'findguard.sqlite');
    const open = (): Db => {
      const d = openDb({ dialect: 'sqlite', path });
      opened.push({ db: d });
      return d;
    };
    const db = openDb({ dialect: 'sqlite', path });
    opened.unshift({ db, dir });
    await migrateToLatest(db.kysely);
    return { db, open };
  }

  async function chain(n: number): Promise<Kysely<Database>> {
    const { db } = await fresh();
    const random = new SeededRandom(7);
    for (let i = 1; i <= n; i++) await recordAudit(db.kysely, entry(i), T + i, random);
    return db.kysely;
  }

  /** What only the database's owner can do: lift the append-only triggers. */
  async function dropGuards(db: Kysely<Database>): Promise<void> {
    if (dialect === 'postgres') await sql`alter table audit_log disable trigger audit_log_append_only`.execute(db);
    else {
      await sql`drop trigger audit_log_no_update`.execute(db);
      await sql`drop trigger audit_log_no_delete`.execute(db);
    }
  }

  it('chains every entry to the one before and verifies; the database refuses UPDATE and DELETE', async () => {
    const db = await chain(5);
    expect(await verifyAudit(db)).toMatchObject({ ok: true, entries: 5 });
    const rows = await db.selectFrom('audit_log').select(['seq', 'prev_hash', 'hash']).orderBy('seq').execute();
    expect(rows.map((r) => Number(r.seq))).toEqual([1, 2, 3, 4, 5]);
    for (let i = 1; i < rows.length; i++) expect(rows[i]!.prev_hash).toBe(rows[i - 1]!.hash);
    await expect(db.updateTable('audit_log').set({ reason: 'rewritten' }).where('seq', '=', 2).execute()).rejects.toThrow(/append-only/);
    await expect(db.deleteFrom('audit_log').where('seq', '=', 2).execute()).rejects.toThrow(/append-only/);
    const [newest] = await listAudit(db, { limit: 1 });
    expect(newest).toMatchObject({ seq: 5, actor: { name: 'alice', role: 'analyst', via: 'password+totp' }, from: '203.0.113.5', tool: 'console', reason: 'organic 5', before: { status: 'suspended' }, after: { status: 'active' } });
  });

  it("appends inside the caller's transaction (transaction() or a plain Kysely one): a rollback leaves neither the entry nor a gap", async () => {
    const db = await chain(2);
    await db.transaction().execute((trx) => recordAudit(trx, entry(3), T + 3, new SeededRandom(3)));
    await expect(
      db.transaction().execute(async (trx) => {
        await recordAudit(trx, entry(4), T + 4, new SeededRandom(4));
        throw new Error('the action failed');
      }),
    ).rejects.toThrow('the action failed');
    await recordAudit(db, entry(5), T + 5, new SeededRandom(5));
    expect(await verifyAudit(db)).toMatchObject({ ok: true, entries: 4 });
    expect((await listAudit(db, { limit: 10 })).map((e) => e.subject)).toEqual(['account:a-5', 'account:a-3', 'account:a-2', 'account:a-1']);
  });

  it('finds an edited entry, whichever field was changed', async () => {
    const db = await chain(5);
    await dropGuards(db);
    for (const change of [{ reason: 'a better story' }, { actor: 'mallory' }, { at: T + 99 }, { after: '{"status":"suspended"}' }] as const) {
      const [before] = await db.selectFrom('audit_log').selectAll().where('seq', '=', 3).execute();
      await db.updateTable('audit_log').set(change).where('seq', '=', 3).execute();
      expect(await verifyAudit(db)).toMatchObject({ ok: false, seq: 3, problem: 'hash', entries: 2 });
      await db.updateTable('audit_log').set(before!).where('seq', '=', 3).execute();
      expect((await verifyAudit(db)).ok).toBe(true);
    }
    // Rehashing the edited entry does not help: the next one names the old hash.
    const row = await db.selectFrom('audit_log').selectAll().where('seq', '=', 3).executeTakeFirstOrThrow();
    const { auditEntryHash } = await import('../src/db/audit-hash.js');
    const forged = { ...row, reason: 'a better story' };
    await db.updateTable('audit_log').set({ reason: forged.reason, hash: auditEntryHash(row.prev_hash, forged) }).where('seq', '=', 3).execute();
    expect(await verifyAudit(db)).toMatchObject({ ok: false, seq: 4, problem: 'prev_hash' });
  });

  it('finds a deleted entry (a gap) and a cut tail', async () => {
    const gap = await chain(5);
    await dropGuards(gap);
    await gap.deleteFrom('audit_log').where('seq', '=', 2).execute();
    expect(await verifyAudit(gap)).toMatchObject({ ok: false, seq: 2, problem: 'gap', entries: 1 });

    const tail = await chain(5);
    await dropGuards(tail);
    await tail.deleteFrom('audit_log').where('seq', '=', 5).execute();
    expect(await verifyAudit(tail)).toMatchObject({ ok: false, seq: 5, problem: 'head', entries: 4 });
  });

  it('appends from several connections at once never fork the chain', async () => {
    const { db, open } = await fresh();
    // PostgreSQL: four pools, as four nodes would be. SQLite: better-sqlite3 blocks its thread while
    // it waits for the write lock, so connections of one process would wait on each other forever;
    // its writers are the embedded node's one connection (queued by Kysely) and other processes.
    const writers = dialect === 'postgres' ? [db, open(), open(), open()] : [db, db, db, db];
    await Promise.all(
      writers.map(async (w, k) => {
        const random = new SeededRandom(100 + k);
        for (let i = 0; i < 25; i++) await recordAudit(w.kysely, entry(k * 100 + i), T + i, random);
      }),
    );
    expect(await verifyAudit(db.kysely)).toMatchObject({ ok: true, entries: 100 });
    const seqs = (await db.kysely.selectFrom('audit_log').select('seq').orderBy('seq').execute()).map((r) => Number(r.seq));
    expect(seqs).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
  });

  it('chains the rows written before the chain existed', async () => {
    const { db } = await freshBefore(dialect, opened);
    await db.kysely.insertInto('audit_log' as never).values([
      { id: 'aud_old1', at: T, actor: 'ops', action: 'account.reinstate', target: 'account:x', details: '{"reason":"old"}' },
      { id: 'aud_old2', at: T + 1, actor: 'ops', action: 'account.suspend', target: 'account:y', details: '{}' },
    ] as never).execute();
    await migrateToLatest(db.kysely);
    expect(await verifyAudit(db.kysely)).toMatchObject({ ok: true, entries: 2 });
    await recordAudit(db.kysely, entry(1), T + 5, new SeededRandom(1));
    expect(await verifyAudit(db.kysely)).toMatchObject({ ok: true, entries: 3 });
  });

  it('findguard operators … and audit list/verify: the CLI is audited, and verify exits 1 on a broken chain', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'findguard-audit-cli-'));
    let env: NodeJS.ProcessEnv = { FINDGUARD_DATA_DIR: dataDir, FINDGUARD_LOG_LEVEL: 'warn' };
    let drop: (() => Promise<void>) | undefined;
    if (dialect === 'postgres') {
      const pg = await createTestDatabase('fg_audit_cli');
      drop = pg.drop;
      env = { ...env, FINDGUARD_DATABASE_URL: pg.url, FINDGUARD_HASH_KEYS: HASH_KEYS, FINDGUARD_SERVICE_KEY: SERVICE_KEY, FINDGUARD_JWT_SECRET: JWT_SECRET };
    }
    const run = async (args: string[], stdin?: string) => {
      const out: string[] = [];
      const err: string[] = [];
      const io: CliIo = { env, cwd: dataDir, out: (l) => out.push(l), err: (l) => err.push(l), interactive: false, ...(stdin !== undefined ? { readStdin: async () => stdin } : {}) };
      process.exitCode = undefined;
      await createProgram(io).parseAsync(args, { from: 'user' });
      return { out, err, code: process.exitCode ?? 0 };
    };
    try {
      await run(['migrate']);
      const added = await run(['operators', 'add', 'erin', '--role', 'admin', '--password-stdin', '--json'], 'a-long-enough-password\n');
      const made = JSON.parse(added.out[0]!);
      expect(made.operator).toMatchObject({ name: 'erin', role: 'admin', status: 'active' });
      expect(made.password).toBeUndefined();
      expect(made.totpUri).toMatch(/^otpauth:\/\/totp\/findguard:erin\?/);
      const generated = await run(['operators', 'add', 'frank', '--role', 'viewer']);
      expect(generated.out.join('\n')).toMatch(/password {5}\S{20,}/);
      expect((await run(['operators', 'list'])).out.join('\n')).toMatch(/erin +admin +active/);
      const token = await run(['operators', 'token', 'create', 'frank', '--label', 'export']);
      expect(token.out[0]).toMatch(/^fgop\./);
      expect((await run(['operators', 'disable', 'frank', '--reason', 'left'])).code).toBe(0);
      expect((await run(['operators', 'disable', 'nobody'])).code).toBe(1);
      expect((await run(['operators', 'enable', 'frank'])).out).toEqual(['operator frank enabled']);

      const listed = (await run(['audit', 'list', '--json'])).out.map((l) => JSON.parse(l));
      expect(listed.map((e) => e.action)).toEqual(['operator.enable', 'operator.disable', 'token.create', 'operator.add', 'operator.add']);
      expect((await run(['audit', 'list', '--json', '--limit', '2', '--before', '4'])).out.map((l) => JSON.parse(l).seq)).toEqual([3, 2]);
      expect(listed[1]).toMatchObject({ actor: { name: 'cli', role: 'system', via: 'cli' }, tool: 'cli', reason: 'left', after: { status: 'disabled' } });
      const ok = await run(['audit', 'verify']);
      expect(ok.code).toBe(0);
      expect(ok.out[0]).toMatch(/^audit trail intact: 5 entries, head [0-9a-f]{64}$/);

      const db = openDb(dialect === 'postgres' ? { dialect: 'postgres', url: env.FINDGUARD_DATABASE_URL! } : { dialect: 'sqlite', path: join(dataDir, 'findguard.sqlite') });
      try {
        await dropGuards(db.kysely);
        await db.kysely.updateTable('audit_log').set({ reason: 'nothing to see' }).where('seq', '=', 5).execute();
      } finally {
        await db.close();
      }
      const broken = await run(['audit', 'verify']);
      expect(broken.code).toBe(1);
      expect(broken.err[0]).toMatch(/^audit trail broken: entry 5 \(aud_[^)]+\) was changed after it was written; 4 entries before it verify$/);
    } finally {
      await drop?.();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

/** A database migrated up to just before the operators migration (the audit log's old shape). */
async function freshBefore(dialect: Dialect, opened: Array<{ db: Db; drop?: () => Promise<void>; dir?: string }>): Promise<{ db: Db }> {
  let db: Db;
  if (dialect === 'postgres') {
    const pg = await createTestDatabase('fg_audit_old');
    db = openDb({ dialect: 'postgres', url: pg.url });
    opened.unshift({ db, drop: pg.drop });
  } else {
    const dir = mkdtempSync(join(tmpdir(), 'findguard-audit-old-'));
    db = openDb({ dialect: 'sqlite', path: join(dir, 'findguard.sqlite') });
    opened.unshift({ db, dir });
  }
  const names = Object.keys(migrations).sort();
  const before = names[names.indexOf('20261216000000-operators') - 1]!;
  const r = await new Migrator({ db: db.kysely, provider: { getMigrations: async () => migrations } }).migrateTo(before);
  if (r.error) throw r.error;
  return { db };
}
