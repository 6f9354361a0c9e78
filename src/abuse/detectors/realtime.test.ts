import { describe, expect, it } from 'vitest';
import { DEFAULT_ABUSE_POLICY } from '../../policy/index.js';
import { GB_BLOCKS, IN_BLOCKS, IR_BLOCKS, Traffic, US_BLOCKS, blocksFor, consecutive, numberIn } from '../synthetic.js';
import { denseRuns, realtimeCheck, scatteredBatch, scatterOf } from './realtime.js';

const policy = DEFAULT_ABUSE_POLICY.realtime;

describe('real-time check', () => {
  // Blocks of eight more countries: a leaked list is the platform's population in miniature.
  const WORLD = [US_BLOCKS, GB_BLOCKS, IR_BLOCKS, IN_BLOCKS, blocksFor('+5511', 9100, 5), blocksFor('+6281', 2000, 5), blocksFor('+52155', 100, 5), blocksFor('+234803', 100, 5), blocksFor('+63917', 100, 5), blocksFor('+90532', 100, 5), blocksFor('+4915', 1100, 5), blocksFor('+3361', 1000, 5)];

  it('denies a batch scattered over many foreign countries (a leaked list), for a caller with a phone of its own, under a policy without the answers rule', () => {
    const t = new Traffic(44);
    const spreadOnly = { ...policy, answers: undefined };
    const list = Array.from({ length: 150 }, (_, i) => numberIn(WORLD[i % WORLD.length]![t.rng.int(5)]!, t.rng.int(10_000)));
    const v = realtimeCheck(list, undefined, spreadOnly, '1');
    expect(v).toMatchObject({ verdict: 'deny', reason: 'scattered-list', scatter: { numbers: 150, countries: 11 } });
    // A small slice of it too: 15 numbers in 11 countries.
    expect(realtimeCheck(list.slice(0, 15), undefined, spreadOnly, '1')).toMatchObject({ verdict: 'deny', reason: 'scattered-list' });
    // The same batch from a caller whose country findguard does not know: nothing is foreign.
    expect(realtimeCheck(list, undefined, spreadOnly).verdict).toBe('allow');
    // Too few numbers to judge.
    expect(realtimeCheck(list.slice(0, 8), undefined, spreadOnly, '1').verdict).toBe('allow');
    // With the answers rule (the default), spread is judged after matching, with the hit rate: not here.
    expect(realtimeCheck(list, undefined, policy, '1').verdict).toBe('allow');
    expect(scatteredBatch(list, '1', policy.scatter)).toMatchObject({ numbers: 150, countries: 11 });
  });

  it('allows address books of migrants, families across two countries, and travellers', () => {
    const t = new Traffic(45);
    // An Indian in the US: 70% Indian numbers, 25% American, one number in each of five more countries.
    const migrant = [...t.book(IN_BLOCKS, [], 280), ...t.book(US_BLOCKS, [], 100), ...WORLD.slice(4, 9).map((b) => numberIn(b[0]!, 42))];
    expect(scatterOf(migrant, '1')).toMatchObject({ countries: 6, scattered: 5 });
    expect(realtimeCheck(migrant, undefined, policy, '1').verdict).toBe('allow');
    // A family split over Iran and Germany, living in Britain, friends in four more countries.
    const family = [...t.book(GB_BLOCKS, [], 40), ...t.book(IR_BLOCKS, [], 80), ...t.book(WORLD[10]!, [], 60), ...WORLD.slice(4, 8).flatMap((b) => [numberIn(b[1]!, 7), numberIn(b[2]!, 9)])];
    expect(realtimeCheck(family, undefined, policy, '44').verdict).toBe('allow');
    // A small book of a well-travelled person: home, and one or two numbers in each of seven countries.
    const traveller = [...t.book(GB_BLOCKS, [], 12), ...WORLD.slice(4, 11).map((b) => numberIn(b[1]!, 7))];
    expect(realtimeCheck(traveller, undefined, policy, '44').verdict).toBe('allow');
  });

  it('denies a batch that is one dense run of consecutive numbers (a range scan)', () => {
    const batch = consecutive(US_BLOCKS, 1200, 50);
    expect(realtimeCheck(batch, undefined, policy)).toEqual({ verdict: 'deny', reason: 'dense-run', run: { numbers: 50, span: 50, coverage: 1, background: 0.005 } });
  });

  it('follows a run across a block boundary and through duplicates and shuffling', () => {
    const batch = consecutive(US_BLOCKS, 9_980, 60);
    const shuffled = [...batch, ...batch.slice(0, 10)].reverse();
    expect(realtimeCheck(shuffled, undefined, policy)).toMatchObject({ verdict: 'deny', run: { numbers: 60, coverage: 1 } });
  });

  it('challenges a looser run, or a shorter one hidden in an address book', () => {
    const t = new Traffic(41);
    const everyOther = Array.from({ length: 60 }, (_, i) => numberIn(US_BLOCKS[3]!, 2 * i));
    expect(realtimeCheck(everyOther, undefined, policy)).toMatchObject({ verdict: 'challenge', reason: 'dense-run', run: { numbers: 60, span: 119 } });
    const book = [...t.book(US_BLOCKS, [], 200), ...consecutive(US_BLOCKS, 50_000, 30)];
    expect(realtimeCheck(book, undefined, policy)).toMatchObject({ verdict: 'challenge', run: { numbers: 30, coverage: 1 } });
  });

  it('allows address books, including an office whose numbers are a few apart', () => {
    const t = new Traffic(42);
    for (let i = 0; i < 20; i++) {
      const book = [...t.book(US_BLOCKS, [], 5 + t.rng.int(1000)), ...consecutive(US_BLOCKS, 70_000 + i * 100, 8)];
      expect(realtimeCheck(book, undefined, policy).verdict).toBe('allow');
    }
    expect(realtimeCheck([numberIn(US_BLOCKS[0]!, 100)], undefined, policy)).toEqual({ verdict: 'allow' });
  });

  it('judges a run against how densely the batch fills its block: a huge book in a one-block country is not a scan', () => {
    const t = new Traffic(44);
    for (let i = 0; i < 20; i++) expect(realtimeCheck(t.randomNumbers([US_BLOCKS[0]!], 5000), undefined, policy).verdict).toBe('allow');
    // The same book with a slice of a neighbouring block scanned whole still stands out.
    const book = [...t.randomNumbers([US_BLOCKS[0]!], 5000), ...consecutive(US_BLOCKS, 10_100, 60)];
    expect(realtimeCheck(book, undefined, policy)).toMatchObject({ verdict: 'deny', run: { numbers: 60 } });
  });

  it('follows the engine: a suspended caller is denied, a challenged one challenged, whatever it asks', () => {
    const one = [numberIn(US_BLOCKS[0]!, 7)];
    expect(realtimeCheck(one, { action: 'suspend-cluster', clusterId: 'c-1' }, policy)).toEqual({ verdict: 'deny', reason: 'suspended-cluster', clusterId: 'c-1' });
    expect(realtimeCheck(one, { action: 'suspend-account' }, policy)).toMatchObject({ verdict: 'deny' });
    expect(realtimeCheck(one, { action: 'challenge', clusterId: 'c-2' }, policy)).toEqual({ verdict: 'challenge', reason: 'challenged-cluster', clusterId: 'c-2' });
    expect(realtimeCheck(one, { action: 'throttle' }, policy)).toEqual({ verdict: 'allow' });
  });

  it('ignores what is not E.164', () => {
    const { widest } = denseRuns(['not a number', '+1', '+14152000001', '+1415200000x', '+14152000002'], 4);
    expect(widest).toEqual({ numbers: 2, span: 2, coverage: 1, background: 0.0002 });
  });

  it('decides a 50-number batch in microseconds', () => {
    const t = new Traffic(43);
    const batches = Array.from({ length: 100 }, () => t.randomNumbers(US_BLOCKS, 50));
    for (let i = 0; i < 2000; i++) realtimeCheck(batches[i % 100]!, undefined, policy);
    const n = 20_000;
    const start = process.hrtime.bigint();
    for (let i = 0; i < n; i++) realtimeCheck(batches[i % 100]!, undefined, policy);
    const perCallUs = Number(process.hrtime.bigint() - start) / n / 1000;
    // Typically ~5 µs; the bar leaves room for a busy machine.
    expect(perCallUs).toBeLessThan(100);
  });
});
