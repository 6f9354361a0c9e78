import { describe, expect, it } from 'vitest';
import { SeededRandom } from '../../util/random.js';
import { Recent } from './infra.js';

/** What Recent.note did with splice and unshift, kept as the reference the in-place version must match. */
function referenceNote(r: { values: string[]; at: number[] }, max: number, v: string, at: number): void {
  if (r.values[0] === v) {
    if (at > r.at[0]!) r.at[0] = at;
    return;
  }
  const i = r.values.indexOf(v);
  if (i >= 0) {
    r.values.splice(i, 1);
    r.at.splice(i, 1);
  } else if (r.values.length >= max) {
    r.values.pop();
    r.at.pop();
  }
  r.values.unshift(v);
  r.at.unshift(at);
}

describe('Recent', () => {
  it('keeps the same values and times, most recent first, as splice and unshift did', () => {
    const rng = new SeededRandom(7);
    for (const max of [1, 2, 8, 16]) {
      const recent = new Recent(max);
      const ref = { values: [] as string[], at: [] as number[] };
      for (let t = 0; t < 5_000; t++) {
        const v = `v${rng.int(max * 2 + 1)}`;
        const at = t - rng.int(3);
        recent.note(v, at);
        referenceNote(ref, max, v, at);
        expect(recent.values).toEqual(ref.values);
        expect(recent.at).toEqual(ref.at);
      }
    }
  });
});
