import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditFor, listOutbox, type WebhookEnvelope } from '../src/incidents/index.js';
import { lookup, mirrorAccount, NUMBERS } from './helpers/fixtures.js';
import { describeEachDialect, startTestService, T0, type TestService } from './helpers/service.js';

const HOUR = 3600_000;

describeEachDialect('enforcer', (dialect) => {
  let svc: TestService;
  let searcher: string;
  beforeAll(async () => {
    svc = await startTestService(dialect, { policy: 'none' });
    await mirrorAccount(svc, 'searcher', [{ value: NUMBERS.frA, purposes: ['two_factor'] }]);
    await mirrorAccount(svc, 'scraper', [{ value: NUMBERS.usA, purposes: ['discovery'] }]);
    await mirrorAccount(svc, 'scraper2', [{ value: NUMBERS.usB, purposes: ['discovery'] }]);
    await mirrorAccount(svc, 'bystander', [{ value: NUMBERS.gbA, purposes: ['discovery'] }]);
    searcher = await svc.tokenFor('searcher');
  });
  afterAll(async () => svc.stop());

  const enforcer = () => svc.ctx.incidents.enforcer;
  const db = () => svc.ctx.db.kysely;
  const outbox = (type: 'account.suspended' | 'account.reinstated') => listOutbox(db(), { type });

  it('suspends: the account cannot discover and its numbers answer like unregistered ones; reinstating reverses both', async () => {
    const scraperToken = await svc.tokenFor('scraper');
    expect((await lookup(svc, scraperToken, { phone: NUMBERS.gbA })).statusCode).toBe(200);
    const unregistered = await lookup(svc, searcher, { phone: NUMBERS.inA });
    expect((await lookup(svc, searcher, { phone: NUMBERS.usA })).json().match.accountId).toBe('scraper');

    const r = await enforcer().suspend(['scraper'], { actor: 'engine', reason: 'sequential range scan', evidence: { lookups: 900, hitRate: 0.001 }, clusterId: 'cl-1' });
    expect(r).toEqual({ suspended: ['scraper'], alreadySuspended: [], unknown: [], spared: [] });

    const refused = await lookup(svc, scraperToken, { phone: NUMBERS.gbA });
    expect(refused.statusCode).toBe(403);
    expect(refused.json().error.code).toBe('account_suspended');
    const hidden = await lookup(svc, searcher, { phone: NUMBERS.usA });
    expect(hidden.statusCode).toBe(200);
    expect(hidden.body).toBe(unregistered.body);
    expect(hidden.body).toBe('{"match":null}');

    const back = await enforcer().reinstate('scraper', { actor: 'alice', reason: 'false positive: a school directory import' });
    expect(back.reinstated).toBe(true);
    expect((await lookup(svc, scraperToken, { phone: NUMBERS.gbA })).statusCode).toBe(200);
    expect((await lookup(svc, searcher, { phone: NUMBERS.usA })).json().match.accountId).toBe('scraper');

    const actions = await enforcer().actionsFor('scraper');
    expect(actions.map((a) => a.action)).toEqual(['reinstate', 'suspend']);
    const [reinstate, suspend] = actions;
    expect(suspend).toMatchObject({ actor: 'engine', clusterId: 'cl-1', evidence: { lookups: 900, hitRate: 0.001 }, reversedBy: reinstate!.id });
    expect(reinstate).toMatchObject({ actor: 'alice', reason: 'false positive: a school directory import', reversedBy: null });
  });

  it('writes one webhook per recorded action, and nothing for a repeated suspension', async () => {
    const before = (await outbox('account.suspended')).length;
    const first = await enforcer().suspend(['scraper2', 'nobody'], { actor: 'engine', reason: 'cluster', evidence: null });
    expect(first).toEqual({ suspended: ['scraper2'], alreadySuspended: [], unknown: ['nobody'], spared: [] });
    const again = await enforcer().suspend(['scraper2'], { actor: 'engine', reason: 'cluster again', evidence: null });
    expect(again).toEqual({ suspended: [], alreadySuspended: ['scraper2'], unknown: [], spared: [] });

    const rows = await outbox('account.suspended');
    expect(rows.length).toBe(before + 1);
    const env = JSON.parse(rows[0]!.payload) as WebhookEnvelope<'account.suspended'>;
    const [action] = await enforcer().actionsFor('scraper2');
    expect(env).toMatchObject({ id: rows[0]!.id, type: 'account.suspended', data: { accountId: 'scraper2', actionId: action!.id, actor: 'engine', reason: 'cluster' } });
    expect(rows[0]).toMatchObject({ attempts: 0, delivered_at: null, next_attempt_at: T0 });
    expect((await enforcer().actionsFor('scraper2')).length).toBe(1);
  });

  it('leaves an account reinstated since sparedIfReinstatedSince alone: no suspension, throttle or challenge', async () => {
    await mirrorAccount(svc, 'appealed', []);
    const engine = { actor: 'engine', reason: 'cluster', evidence: null };
    await enforcer().suspend(['appealed'], engine);
    await enforcer().reinstate('appealed', { actor: 'erin', reason: 'appeal granted' });
    const since = svc.clock.now() - 1000;
    svc.clock.advance(5000);
    expect(await enforcer().suspend(['appealed'], { ...engine, sparedIfReinstatedSince: since })).toEqual({ suspended: [], alreadySuspended: [], unknown: [], spared: ['appealed'] });
    const until = svc.clock.now() + 3_600_000;
    expect((await enforcer().throttle(['appealed'], until, { ...engine, sparedIfReinstatedSince: since })).spared).toEqual(['appealed']);
    expect((await enforcer().challenge(['appealed'], until, { ...engine, sparedIfReinstatedSince: since })).spared).toEqual(['appealed']);
    expect(await enforcer().activeRestrictions('appealed', svc.clock.now())).toEqual({ suspended: false, throttledUntil: null, challengeUntil: null });
    // Past the grace (a reinstatement before `since`), the engine acts again.
    expect((await enforcer().suspend(['appealed'], { ...engine, sparedIfReinstatedSince: svc.clock.now() })).suspended).toEqual(['appealed']);
  });

  it('records nothing and changes nothing when the outbox write fails', async () => {
    await mirrorAccount(svc, 'atomic', [{ value: NUMBERS.deA, purposes: ['discovery'] }]);
    await sql`ALTER TABLE webhook_outbox RENAME TO webhook_outbox_away`.execute(db());
    try {
      await expect(enforcer().suspend(['atomic'], { actor: 'engine', reason: 'r', evidence: {} })).rejects.toThrow();
    } finally {
      await sql`ALTER TABLE webhook_outbox_away RENAME TO webhook_outbox`.execute(db());
    }
    expect(await enforcer().actionsFor('atomic')).toEqual([]);
    expect((await svc.ctx.directory.getAccount('atomic')).findguardStatus).toBe('active');
    expect((await lookup(svc, searcher, { phone: NUMBERS.deA })).json().match.accountId).toBe('atomic');

    // And the other way: a reinstatement whose outbox write fails leaves the suspension whole.
    await enforcer().suspend(['atomic'], { actor: 'engine', reason: 'r', evidence: {} });
    await sql`ALTER TABLE webhook_outbox RENAME TO webhook_outbox_away`.execute(db());
    try {
      await expect(enforcer().reinstate('atomic', { actor: 'bob', reason: 'r' })).rejects.toThrow();
    } finally {
      await sql`ALTER TABLE webhook_outbox_away RENAME TO webhook_outbox`.execute(db());
    }
    const actions = await enforcer().actionsFor('atomic');
    expect(actions.map((a) => [a.action, a.reversedBy])).toEqual([['suspend', null]]);
    expect(await auditFor(db(), 'account:atomic')).toEqual([]);
    expect((await svc.ctx.directory.getAccount('atomic')).findguardStatus).toBe('suspended');
  });

  it('finishes a suspension whose status was never applied, without recording it twice', async () => {
    await mirrorAccount(svc, 'halfway', []);
    await enforcer().suspend(['halfway'], { actor: 'engine', reason: 'r', evidence: {} });
    // As if the process had died between the commit and the status change.
    await db().updateTable('accounts').set({ fg_status: 'active' }).where('id', '=', 'halfway').execute();
    const r = await enforcer().suspend(['halfway'], { actor: 'engine', reason: 'r', evidence: {} });
    expect(r.alreadySuspended).toEqual(['halfway']);
    expect((await svc.ctx.directory.getAccount('halfway')).findguardStatus).toBe('suspended');
    expect((await enforcer().actionsFor('halfway')).length).toBe(1);
  });

  it('sends account.reinstated and audit-logs operator actions; reinstating an active account does nothing', async () => {
    await mirrorAccount(svc, 'oper', []);
    await enforcer().suspend(['oper'], { actor: 'carol', reason: 'manual review', evidence: { ticket: 'T-1' } });
    const r = await enforcer().reinstate('oper', { actor: 'dave', reason: 'appeal granted' });
    const [env] = (await outbox('account.reinstated')).map((row) => JSON.parse(row.payload) as WebhookEnvelope<'account.reinstated'>);
    expect(env!.data).toMatchObject({ accountId: 'oper', actionId: r.actionId, actor: 'dave', reason: 'appeal granted', reverses: r.reversed });
    expect(r.reversed.length).toBe(1);
    const audit = await auditFor(db(), 'account:oper');
    expect(audit.map((a) => [a.actor.name, a.action])).toEqual([
      ['dave', 'account.reinstate'],
      ['carol', 'account.suspend'],
    ]);
    const count = (await outbox('account.reinstated')).length;
    expect(await enforcer().reinstate('oper', { actor: 'dave', reason: 'again' })).toEqual({ reinstated: false, actionId: null, reversed: [] });
    expect((await outbox('account.reinstated')).length).toBe(count);
    await expect(enforcer().reinstate('no-such-account', { actor: 'dave', reason: 'x' })).rejects.toMatchObject({ code: 'not_found' });
    await expect(enforcer().reinstate('oper', { actor: 'bad name!', reason: 'x' })).rejects.toMatchObject({ code: 'invalid_request' });
  });

  describe('throttles and challenges', () => {
    it('are kept with an expiry, extended only by a later one, and read back as active restrictions', async () => {
      await mirrorAccount(svc, 'slow', []);
      const now = svc.clock.now();
      expect(await enforcer().activeRestrictions('slow', now)).toEqual({ suspended: false, throttledUntil: null, challengeUntil: null });
      expect((await enforcer().throttle(['slow', 'ghost'], now + 2 * HOUR, { actor: 'engine', reason: 'fast', evidence: { rate: 40 } })).recorded).toEqual(['slow']);
      expect((await enforcer().throttle(['slow'], now + HOUR, { actor: 'engine', reason: 'fast', evidence: {} })).unchanged).toEqual(['slow']);
      expect((await enforcer().challenge(['slow'], now + HOUR, { actor: 'engine', reason: 'hosting ASN', evidence: {} })).recorded).toEqual(['slow']);
      expect(await enforcer().activeRestrictions('slow', now)).toEqual({ suspended: false, throttledUntil: now + 2 * HOUR, challengeUntil: now + HOUR });
      expect(await enforcer().activeRestrictions('slow', now + HOUR)).toEqual({ suspended: false, throttledUntil: now + 2 * HOUR, challengeUntil: null });
      expect(await enforcer().activeRestrictions('slow', now + 2 * HOUR)).toEqual({ suspended: false, throttledUntil: null, challengeUntil: null });
      // No webhook: the app only hears about suspensions.
      expect((await listOutbox(db())).some((r) => r.payload.includes('"slow"'))).toBe(false);
    });

    it('are lifted with the suspension when an operator reinstates', async () => {
      await mirrorAccount(svc, 'both', []);
      const now = svc.clock.now();
      await enforcer().throttle(['both'], now + HOUR, { actor: 'engine', reason: 'fast', evidence: {} });
      await enforcer().suspend(['both'], { actor: 'engine', reason: 'cluster', evidence: {} });
      expect(await enforcer().activeRestrictions('both', now)).toEqual({ suspended: true, throttledUntil: now + HOUR, challengeUntil: null });
      const r = await enforcer().reinstate('both', { actor: 'erin', reason: 'organic' });
      expect(r.reversed.length).toBe(2);
      expect(await enforcer().activeRestrictions('both', now)).toEqual({ suspended: false, throttledUntil: null, challengeUntil: null });
    });
  });
});
