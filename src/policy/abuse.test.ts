import { describe, expect, it } from 'vitest';
import { abusePolicyErrors, compileAbusePolicy, DEFAULT_ABUSE_POLICY, type AbusePolicy } from './abuse.js';

describe('abuse policy', () => {
  it('the default is valid, plain JSON, and compiles its durations to ms', () => {
    expect(abusePolicyErrors(DEFAULT_ABUSE_POLICY)).toEqual([]);
    expect(JSON.parse(JSON.stringify(DEFAULT_ABUSE_POLICY))).toEqual(DEFAULT_ABUSE_POLICY);
    const c = compileAbusePolicy();
    expect(c.features.shortWindowMs).toBe(3_600_000);
    expect(c.coordination).toMatchObject({ bucketMs: 3_600_000, windowMs: 3 * 86_400_000 });
    expect(c.farming).toMatchObject({ windowMs: 15 * 60_000, minBurst: DEFAULT_ABUSE_POLICY.farming.minBurst });
    expect(c.actions.throttle.durationMs).toBe(6 * 3_600_000);
    expect(c.shadow).toBe(false);
  });

  it('names what is wrong', () => {
    const bad = { ...DEFAULT_ABUSE_POLICY, features: { ...DEFAULT_ABUSE_POLICY.features, shortWindow: 'an hour' }, extra: 1 };
    const errors = abusePolicyErrors(bad);
    expect(errors.some((e) => e.startsWith('/features/shortWindow'))).toBe(true);
    expect(() => compileAbusePolicy(bad as unknown as AbusePolicy)).toThrow(/invalid abuse policy: .*shortWindow/);
  });

  it('refuses thresholds that contradict each other', () => {
    const p: AbusePolicy = { ...DEFAULT_ABUSE_POLICY, coordination: { ...DEFAULT_ABUSE_POLICY.coordination, window: '30m' } };
    expect(() => compileAbusePolicy(p)).toThrow(/coordination.window is shorter than its bucket/);
    const q: AbusePolicy = { ...DEFAULT_ABUSE_POLICY, actions: { ...DEFAULT_ABUSE_POLICY.actions, challenge: { score: 0.2, duration: '1h' } } };
    expect(() => compileAbusePolicy(q)).toThrow(/challenge.score is below/);
  });
});
