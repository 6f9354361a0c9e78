import { describe, expect, it } from 'vitest';
import { Poller } from './poller.js';

describe('Poller', () => {
  it('runs one round at a time, goes again at once when poked mid-round or when work waits, and keeps polling after a failure', async () => {
    let rounds = 0;
    let inRound = 0;
    let overlapped = false;
    const errors: unknown[] = [];
    let release: () => void = () => {};
    // Long enough that any round seen before it lapses was run by a poke or by a full batch.
    let interval = 60_000;
    const poller = new Poller({
      round: async () => {
        rounds++;
        inRound++;
        if (inRound > 1) overlapped = true;
        if (rounds === 1) await new Promise<void>((r) => (release = r));
        inRound--;
        if (rounds === 3) {
          interval = 10; // from now on the next interval comes soon enough to observe
          throw new Error('store down');
        }
        return rounds === 2; // a full batch: more waiting
      },
      intervalMs: () => interval,
      onError: (err) => errors.push(err),
    });
    poller.start();
    await new Promise((r) => setTimeout(r, 20));
    expect(rounds).toBe(1);
    poller.poke(); // during round 1: runs round 2 right after it, not beside it
    release();
    await new Promise((r) => setTimeout(r, 50));
    // Round 2 reported a full batch, so round 3 ran at once; round 3 threw (logged, not fatal) and
    // polling went on at the interval.
    expect(rounds).toBeGreaterThanOrEqual(4);
    expect(errors).toHaveLength(1);
    expect(overlapped).toBe(false);
    await poller.stop();
    const atStop = rounds;
    poller.poke(); // stopped: nothing more
    await new Promise((r) => setTimeout(r, 40));
    expect(rounds).toBe(atStop);
  });
});
