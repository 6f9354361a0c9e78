import { afterEach, expect, it } from 'vitest';
import { createLogger } from '../src/logger.js';
import { createService, type Service } from '../src/main.js';
import { compilePolicy } from '../src/policy/index.js';
import { SeededRandom } from '../src/util/random.js';
import { answersRulePolicy, DAY, HOME_IP, intel, member, memberLines, MEMBERS, range, stranger } from './helpers/answers-rule.js';
import { importLines, mirrorAccount, syncFrom } from './helpers/fixtures.js';
import { describeEachDialect, startTestService, type TestService } from './helpers/service.js';

/**
 * The answer pool through HTTP (src/abuse/answer-pool.ts): an aged account's book and its later
 * batches, pooled by what their new numbers asked and matched, judged before answering. A list
 * worked in batches under the answers rule's minimum (slow-drip) is refused at its second batch,
 * charged, nothing answered; a person's new circle after an ordinary book, and a re-sync, are not.
 */
describeEachDialect('the answer pool', (dialect) => {
  let svc: TestService;
  let restarted: Service | undefined;
  afterEach(async () => {
    await restarted?.close();
    restarted = undefined;
    await svc?.stop();
  });

  async function start(): Promise<void> {
    svc = await startTestService(dialect, { trustedProxies: '127.0.0.1' }, { policy: compilePolicy(answersRulePolicy('answer-pool')), ipIntel: intel });
    expect((await importLines(svc, memberLines())).json()).toMatchObject({ accounts: MEMBERS, failed: 0 });
    for (const id of ['dripper', 'person']) await mirrorAccount(svc, id, [], { createdAt: new Date(svc.clock.now() - 3 * 365 * DAY).toISOString(), phoneRegion: 'GB' });
    // British books hit 15%.
    await svc.ctx.db.kysely.insertInto('hit_rates').values({ country: 'GB', numbers: 1_000_000, matched: 150_000, updated_at: svc.clock.now() }).execute();
  }

  const syncAs = (account: string, contacts: string[]) => syncFrom(svc, account, contacts, HOME_IP);

  it("refuses a list's second batch of 20 (12 registered each): charged, nothing answered, the matches withheld recorded", async () => {
    await start();
    const book = await syncAs('dripper', [...range(12, member), ...range(8, stranger)]);
    expect(book.statusCode).toBe(200);
    expect(book.json().matches).toHaveLength(12);
    const second = await syncAs('dripper', [...range(12, member, 12), ...range(8, stranger, 8)]);
    expect(second.statusCode).toBe(429);
    expect(second.json().error).toMatchObject({ code: 'rate_limited', details: { scope: 'account' } });
    expect(second.json().error.message).toMatch(/this batch and the ones before it match far more numbers than an address book/);
    expect(second.body).not.toMatch(/accountId|"m\d+"|\+44/);
    expect(await svc.ctx.events.flush()).toBe(true);
    const rows = await svc.ctx.db.kysely.selectFrom('lookup_events').selectAll().where('account_id', '=', 'dripper').orderBy('at').execute();
    expect(rows.map((r) => [r.outcome, Number(r.new_numbers), Number(r.matched)])).toEqual([
      ['allowed', 20, 12],
      ['refused', 20, 12],
    ]);
  });

  it('a restart on the same database keeps the pool: the batch refused before it is refused after it', async () => {
    await start();
    expect((await syncAs('dripper', [...range(12, member), ...range(8, stranger)])).statusCode).toBe(200);
    await svc.close();
    restarted = await createService(svc.config, svc.secrets, { clock: svc.clock, random: new SeededRandom(45), logger: createLogger('silent'), policy: compilePolicy(answersRulePolicy('answer-pool')), ipIntel: intel });
    svc.clock.advance(1000);
    const after = await restarted.app.inject({
      method: 'POST',
      url: '/v1/discovery/sync',
      remoteAddress: '127.0.0.1',
      headers: { authorization: `Bearer ${await svc.tokenFor('dripper')}`, 'x-forwarded-for': HOME_IP },
      payload: { contacts: [...range(12, member, 12), ...range(8, stranger, 8)] },
    });
    expect(after.statusCode).toBe(429);
    expect(after.json().matches).toBeUndefined();
  });

  it('the same list cut into pieces of three matches: one piece answered, the next refused, and a smaller one after it', async () => {
    await start();
    expect((await syncAs('dripper', [...range(12, member), ...range(8, stranger)])).statusCode).toBe(200);
    const piece = await syncAs('dripper', [...range(3, member, 12), ...range(2, stranger, 8)]);
    expect(piece.statusCode).toBe(200);
    expect(piece.json().matches).toHaveLength(3);
    expect((await syncAs('dripper', [...range(3, member, 15), ...range(2, stranger, 10)])).statusCode).toBe(429);
    expect((await syncAs('dripper', [...range(2, member, 18)])).statusCode).toBe(429);
  });

  it("answers a person's new circle after an ordinary book, and a re-sync of the book adds nothing", async () => {
    await start();
    // 150 numbers, 20 friends on the app (0.13), then a circle of 30 with 8 on it (0.27): twice the country's rate.
    const bookNumbers = [...range(20, member), ...range(130, stranger, 100)];
    expect((await syncAs('person', bookNumbers)).json().matches).toHaveLength(20);
    const circle = await syncAs('person', [...range(8, member, 20), ...range(22, stranger, 300)]);
    expect(circle.statusCode).toBe(200);
    expect(circle.json().matches).toHaveLength(8);
    // A reinstall: the whole book again, no token; paid for before, so nothing new to judge.
    const again = await syncAs('person', bookNumbers);
    expect(again.statusCode).toBe(200);
    expect(again.json().matches).toHaveLength(20);
    const row = await svc.ctx.db.kysely.selectFrom('accounts').select('answer_pool' as never).where('id', '=', 'person').executeTakeFirstOrThrow();
        // The re-sync's 150 numbers wait in the piece; its 20 friends were answered before, so none is fresh.
    expect(JSON.parse((row as unknown as { answer_pool: string }).answer_pool)).toMatchObject({ bookAsked: 150, bookMatched: 20, asked: 30, matched: 8, calls: 1, pieceAsked: 150, pieceMatched: 0 });
  });

  it('a pool idle past its memory is cleared by the retention job, what it remembered with it', async () => {
    await start();
    expect((await syncAs('person', [...range(20, member), ...range(130, stranger, 100)])).statusCode).toBe(200);
    const pool = () => svc.ctx.db.kysely.selectFrom('accounts').select(['answer_pool', 'answer_pool_at'] as never[]).where('id', '=', 'person').executeTakeFirstOrThrow() as unknown as Promise<{ answer_pool: string | null; answer_pool_at: unknown }>;
    expect((await pool()).answer_pool).not.toBeNull();
    svc.clock.advance(27 * DAY);
    expect(await svc.ctx.abuse.purgeIdlePools(svc.clock.now())).toBe(0);
    svc.clock.advance(2 * DAY);
    expect(await svc.ctx.abuse.purgeIdlePools(svc.clock.now())).toBe(1);
    expect(await pool()).toEqual({ answer_pool: null, answer_pool_at: null });
  });

  it('a pool that cannot be read answers 503: nothing answered, nothing counted against the caller', async () => {
    await start();
    expect((await syncAs('dripper', [...range(12, member), ...range(8, stranger)])).statusCode).toBe(200);
    await svc.ctx.db.kysely.schema.alterTable('accounts').renameColumn('answer_pool', 'answer_pool_gone').execute();
    const res = await syncAs('dripper', [...range(3, member, 12), ...range(17, stranger, 8)]);
    expect(res.statusCode).toBe(503);
    expect(res.json().error.code).toBe('unavailable');
    expect(res.body).not.toMatch(/accountId|"m\d+"|\+44/);
    expect(await svc.ctx.events.flush()).toBe(true);
    const rows = await svc.ctx.db.kysely.selectFrom('lookup_events').select('outcome').where('account_id', '=', 'dripper').execute();
    expect(rows.map((r) => r.outcome)).toEqual(['allowed']);
  });
});
