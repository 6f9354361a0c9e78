import { ipIntelFromRanges } from '../../src/net/index.js';
import { DEFAULT_ABUSE_POLICY, type Policy } from '../../src/policy/index.js';
import { T0 } from './service.js';

/**
 * The setting of the tests that take the real-time answers rule across restarts and nodes (the
 * first-sync exemption): a British broadband address, a policy that enforces the answers rule with
 * an engine that never acts on its own and a budget that never binds, and a population of members
 * and strangers whose numbers look like a book's.
 */
export const DAY = 86_400_000;
export const HOME_IP = '198.51.100.7';
export const intel = ipIntelFromRanges([{ cidr: '198.51.100.0/24', country: 'GB', asn: 64501, asName: 'Example Broadband' }]);

export function answersRulePolicy(name: string): Policy {
  return {
    name,
    tiers: [{ name: 'standard' }],
    layers: [{ id: 'account-new', subject: 'account', cost: 'new', limits: { default: { burst: 5000, refill: 5000, per: '1d' } } }],
    abuse: {
      ...DEFAULT_ABUSE_POLICY,
      mode: 'enforce',
      realtime: { ...DEFAULT_ABUSE_POLICY.realtime, answers: { ...DEFAULT_ABUSE_POLICY.realtime.answers!, minBaselineNumbers: 100 } },
      actions: {
        ...DEFAULT_ABUSE_POLICY.actions,
        throttle: { score: 0.999, duration: '1h' },
        challenge: { score: 0.999, duration: '1h' },
        suspendAccount: { score: 0.999, minSignals: 5 },
        suspendCluster: { score: 0.999, minDetectors: 5, minMembers: 2 },
      },
    },
  };
}

/** UK mobiles 661 apart: no dense run, no more than 15 in one block, as in a book. */
export const member = (i: number): string => `+447911${100000 + i * 661}`;
export const stranger = (i: number): string => `+447912${100000 + i * 661}`;
export const range = (n: number, f: (i: number) => string, from = 0): string[] => Array.from({ length: n }, (_, i) => f(from + i));
export const MEMBERS = 110;
/** A leaked list's slice: 100 members and 50 strangers, far above a British book's 15%. */
export const SLICE = [...range(100, member), ...range(50, stranger)];

/** The members as import lines: aged accounts, each with its number discoverable. */
export const memberLines = () =>
  Array.from({ length: MEMBERS }, (_, i) => ({ accountId: `m${i}`, handle: `m${i}`, createdAt: new Date(T0 - 400 * DAY).toISOString(), contactPoints: [{ kind: 'phone', value: member(i), purposes: ['discovery'], verified: true }] }));
