import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kysely } from 'kysely';
import type { Database } from '../src/db/schema.js';
import { transaction } from '../src/db/transaction.js';
import { Enforcer } from '../src/incidents/enforcer.js';
import { describeEachDialect, startTestService, type TestService } from './helpers/service.js';

/** transaction()/onCommit (src/db/transaction.ts) and the after-commit work moved onto it. */
describeEachDialect('transaction and onCommit', (dialect) => {
  let svc: TestService;
  let db: Kysely<Database>;
  beforeAll(async () => {
    svc = await startTestService(dialect);
    db = svc.ctx.db.kysely;
  });
  afterAll(async () => svc.stop());

  const handles = (prefix: string) => db.selectFrom('accounts').select('id').where('id', 'like', `${prefix}%`).execute();
  const insert = (trx: Kysely<Database>, id: string) =>
    trx.insertInto('accounts').values({ id, handle: id, created_at: 1, app_status: 'active', fg_status: 'active', phone_region: null, derived_phone_region: null, signup_ip: null, signup_device: null, signup_user_agent: null, mirrored_at: 1, updated_at: 1 }).execute();

  it('runs callbacks once, after the commit, in order; the caller gets its result', async () => {
    const seen: string[] = [];
    let read: Promise<number> | undefined;
    const result = await transaction(db, async (tx) => {
      await insert(tx, 'tx-commit-1');
      tx.onCommit(() => {
        seen.push('first');
        // From outside the transaction: the row is committed by now.
        read = handles('tx-commit-').then((r) => r.length);
      });
      tx.onCommit(() => seen.push('second'));
      expect(seen).toEqual([]);
      return 42;
    });
    expect(result).toBe(42);
    expect(seen).toEqual(['first', 'second']);
    expect(await read).toBe(1);
  });

  it('never runs them on rollback', async () => {
    let ran = 0;
    await expect(
      transaction(db, async (tx) => {
        await insert(tx, 'tx-rollback-1');
        tx.onCommit(() => ran++);
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(ran).toBe(0);
    expect(await handles('tx-rollback-')).toEqual([]);
  });

  it('joins the outer transaction when nested: callbacks wait for the outer commit, and its rollback drops them', async () => {
    let ran = 0;
    await transaction(db, async (outer) => {
      const inner = await transaction(outer, async (tx) => {
        expect(tx).toBe(outer);
        tx.onCommit(() => ran++);
        return 'inner';
      });
      expect(inner).toBe('inner');
      expect(ran).toBe(0);
    });
    expect(ran).toBe(1);
    await expect(
      transaction(db, async (outer) => {
        await transaction(outer, async (tx) => {
          await insert(tx, 'tx-nested-rollback');
          tx.onCommit(() => ran++);
        });
        throw new Error('outer fails');
      }),
    ).rejects.toThrow('outer fails');
    expect(ran).toBe(1);
    expect(await handles('tx-nested-rollback')).toEqual([]);
  });

  it('logs a failing callback instead of throwing it into the committed caller, and runs the others', async () => {
    const errors: string[] = [];
    let after = 0;
    const r = await transaction(
      db,
      async (tx) => {
        await insert(tx, 'tx-failing-cb');
        tx.onCommit(() => {
          throw new Error('cache down');
        });
        tx.onCommit(() => Promise.reject(new Error('poke failed')));
        tx.onCommit(() => after++);
        return 'committed';
      },
      { error: (obj) => errors.push((obj as { err: string }).err) },
    );
    await new Promise((resolve) => setImmediate(resolve));
    expect(r).toBe('committed');
    expect(after).toBe(1);
    expect(errors.sort()).toEqual(['cache down', 'poke failed']);
    expect(await handles('tx-failing-cb')).toHaveLength(1);
  });

  it('the directory tells its caches and the abuse engine once per committed write, never for a rolled-back one', async () => {
    const changed: string[][] = [];
    const signups: string[] = [];
    const deps = svc.ctx.directory.deps;
    const { onChanged, onSignup } = deps;
    deps.onChanged = (ids) => {
      changed.push([...ids]);
      onChanged?.(ids);
    };
    deps.onSignup = (id, at, s) => {
      signups.push(id);
      onSignup?.(id, at, s);
    };
    try {
      const body = { handle: 'h', signup: { ip: '81.2.69.160', deviceId: 'dev-tx' } };
      await expect(
        transaction(db, async (tx) => {
          await svc.ctx.directory.putAccount('tx-dir-rolled-back', body, tx);
          throw new Error('the caller fails after the write');
        }),
      ).rejects.toThrow();
      expect(changed).toEqual([]);
      expect(signups).toEqual([]);
      expect(await svc.app.inject({ method: 'GET', url: '/internal/v1/accounts/tx-dir-rolled-back', headers: svc.internal })).toMatchObject({ statusCode: 404 });

      await svc.ctx.directory.putAccount('tx-dir-committed', body);
      expect(changed).toEqual([['tx-dir-committed']]);
      expect(signups).toEqual(['tx-dir-committed']);
      // Two writes in one outer transaction: nothing until it commits, then each notice once.
      await transaction(db, async (tx) => {
        await svc.ctx.directory.putAccount('tx-dir-a', { handle: 'a' }, tx);
        await svc.ctx.directory.putAccount('tx-dir-b', body, tx);
        expect(changed).toHaveLength(1);
      });
      expect(changed).toEqual([['tx-dir-committed'], ['tx-dir-a'], ['tx-dir-b']]);
      expect(signups).toEqual(['tx-dir-committed', 'tx-dir-b']);
    } finally {
      deps.onChanged = onChanged;
      deps.onSignup = onSignup;
    }
  });

  it('an enforcer transaction that rolls back pokes nothing and invalidates nothing; a committed one does each once', async () => {
    await svc.ctx.directory.putAccount('tx-enf-1', { handle: 'one' });
    await svc.ctx.directory.putAccount('tx-enf-2', { handle: 'two' });
    const calls = { pokes: 0, changed: [] as string[][], decisions: 0 };
    let fail = true;
    const enforcer = new Enforcer({
      db,
      clock: svc.clock,
      random: svc.ctx.random,
      directory: {
        setFindguardStatusIn: async (trx, id, status) => {
          const ok = await svc.ctx.directory.setFindguardStatusIn(trx, id, status);
          if (fail) throw new Error('the database went away mid-transaction');
          return ok;
        },
        changed: (ids) => void calls.changed.push([...ids]),
      },
      decisions: { changed: (rows) => void (calls.decisions += rows.length) },
      onEnqueued: () => void calls.pokes++,
    });
    const opts = { actor: 'engine', reason: 'test', evidence: null };
    await expect(enforcer.suspend(['tx-enf-1', 'tx-enf-2'], opts)).rejects.toThrow('went away');
    expect(calls).toEqual({ pokes: 0, changed: [], decisions: 0 });
    expect((await db.selectFrom('accounts').select('fg_status').where('id', '=', 'tx-enf-1').executeTakeFirstOrThrow()).fg_status).toBe('active');

    fail = false;
    const r = await enforcer.suspend(['tx-enf-1', 'tx-enf-2'], opts);
    expect(r.suspended).toEqual(['tx-enf-1', 'tx-enf-2']);
    expect(calls).toEqual({ pokes: 1, changed: [['tx-enf-1', 'tx-enf-2']], decisions: 2 });

    await enforcer.throttle(['tx-enf-1'], svc.clock.now() + 60_000, opts);
    expect(calls).toMatchObject({ pokes: 1, decisions: 3 });
    await enforcer.reinstate('tx-enf-2', { actor: 'ops', reason: 'organic' });
    expect(calls).toEqual({ pokes: 2, changed: [['tx-enf-1', 'tx-enf-2'], ['tx-enf-2']], decisions: 4 });
  });
});

describe('transaction()', () => {
  it('refuses to join a Kysely transaction it did not open (its callbacks would never run)', async () => {
    const svc = await startTestService('sqlite');
    try {
      await expect(svc.ctx.db.kysely.transaction().execute((trx) => transaction(trx, async () => 1))).rejects.toThrow('cannot be joined');
    } finally {
      await svc.stop();
    }
  });
});
