import { describe, expect, it } from 'vitest';
import { partitionOf } from '../../src/abuse/partitions.js';
import { DAY, HOUR, T0, Traffic, friendsScene, listerScene, merge, organicScene, sparseBooksScene } from '../../src/abuse/synthetic.js';
import { DEFAULT_ABUSE_POLICY, type AbusePolicy } from '../../src/policy/index.js';
import { replaySharded, replaySingle, strongest } from '../helpers/sharded-replay.js';

/**
 * Review: the revelation detector (abuse/detectors/revelation.ts) runs in the partitions, and a
 * call's answers are "fresh" unless the account named had already found the caller, or joined
 * after the caller's book. Both facts were read from the partition's own memory (whom the named
 * account's answers named; when it was created): with P > 1 a friend kept by another partition was
 * unknown there, so a person whose friends joined the app, or who found the friends who had found
 * them first, was suspended for a list (two novel calls) by the sharded engine and left alone by the
 * single one. The same scenes through real worker processes: test/events-partitions-friends.
 */
const END = T0 + 3 * DAY;

describe('review: the revelation graph across partitions', async () => {
  const realtime = { ...DEFAULT_ABUSE_POLICY.realtime, answers: { ...DEFAULT_ABUSE_POLICY.realtime.answers!, minBaselineNumbers: 1000 } };
  const policy: AbusePolicy = { ...DEFAULT_ABUSE_POLICY, mode: 'enforce', realtime };
  const t = new Traffic(43);
  const people = ['early', 'keen', 'newcomer', 'friendly'];
  const all = merge(organicScene(t, 3), sparseBooksScene(t), ...people.map((c, k) => friendsScene(t, c, k)), listerScene(t));
  const single = strongest(await replaySingle(all, policy, HOUR, END));
  const sharded = strongest((await replaySharded(all, policy, HOUR, END, 2)).recorded);

  it('a person whose friends joined, or had found them first, is not taken for a list on either engine', () => {
    // The friends are spread over both partitions: some of each person's answers name accounts of the other.
    for (const c of people) {
      const parts = new Set(all.accounts.filter((id) => id.startsWith(`${c}-`)).map((id) => partitionOf(id, 2)));
      expect(parts).toEqual(new Set([0, 1]));
    }
    for (const c of people) {
      // Both engines challenge them for their books' hit rate (enumeration); neither takes them for a list.
      expect(sharded.get(c), c).toBe(single.get(c));
      expect(single.get(c), c).not.toBe('suspend-account');
    }
  });

  it('the same calls naming people who never found the caller are suspended on both', () => {
    expect(single.get('lister')).toBe('suspend-account');
    expect(sharded.get('lister')).toBe('suspend-account');
  });
});
