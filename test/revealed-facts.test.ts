import { afterAll, beforeAll, expect, it } from 'vitest';
import { dbRevealedFacts } from '../src/abuse/revealed-facts.js';
import { makeEvent } from './helpers/events.js';
import { mirrorAccount } from './helpers/fixtures.js';
import { describeEachDialect, startTestService, T0, type TestService } from './helpers/service.js';

/**
 * What a partition of the abuse engine reads of other partitions' accounts (abuse/revealed-facts.ts,
 * test/review/sharded-revelation-friends): creation times from the directory, and whose stored,
 * answered calls named a caller, in a window, by exact id (not a substring of another).
 */
const MIN = 60_000;

describeEachDialect('revealed facts from the database', (dialect) => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService(dialect, { policy: 'none' });
    await mirrorAccount(svc, 'rf-old', [], { createdAt: new Date(T0 - 100 * MIN).toISOString() });
    await mirrorAccount(svc, 'rf-new', [], { createdAt: new Date(T0 + 5 * MIN).toISOString() });
    let n = 0;
    const call = (accountId: string, minute: number, revealed: string[], outcome: 'allowed' | 'refused' = 'allowed') =>
      makeEvent(910_000 + ++n, { accountId, at: T0 + minute * MIN, revealed, matched: revealed.length, outcome });
    await svc.ctx.eventPipeline.process([
      call('rf-friend', 10, ['rf-caller', 'rf-other']),
      call('rf-late', 50, ['rf-caller']),
      call('rf-late', 55, ['rf-caller']),
      call('rf-prefix', 10, ['rf-caller-2', 'xrf-caller']),
      call('rf-refused', 10, ['rf-caller'], 'refused'),
      call('rf-stranger', 10, ['rf-other']),
    ]);
  }, 120_000);
  afterAll(async () => {
    await svc?.stop();
  });

  it('reads when accounts were created, and leaves out the ones it does not know', async () => {
    const created = await dbRevealedFacts(svc.ctx.db.kysely).createdAt(['rf-old', 'rf-new', 'rf-nobody']);
    expect(Object.fromEntries(created)).toEqual({ 'rf-old': T0 - 100 * MIN, 'rf-new': T0 + 5 * MIN });
  });

  it("gives the first answered call in the window that named the caller, of those that did, and no other", async () => {
    const facts = dbRevealedFacts(svc.ctx.db.kysely);
    const ids = ['rf-friend', 'rf-late', 'rf-prefix', 'rf-refused', 'rf-stranger', 'rf-nobody'];
    const first = async (caller: string, from: number, to: number) => Object.fromEntries(await facts.firstNamed(caller, ids, T0 + from * MIN, T0 + to * MIN));
    expect(await first('rf-caller', 0, 20)).toEqual({ 'rf-friend': T0 + 10 * MIN });
    expect(await first('rf-caller', 0, 60)).toEqual({ 'rf-friend': T0 + 10 * MIN, 'rf-late': T0 + 50 * MIN });
    expect(await first('rf-caller', 20, 60)).toEqual({ 'rf-late': T0 + 50 * MIN });
    expect(await first('rf-other', 0, 60)).toEqual({ 'rf-friend': T0 + 10 * MIN, 'rf-stranger': T0 + 10 * MIN });
  });
});
