import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { lookup, mirrorAccount, NUMBERS } from './helpers/fixtures.js';
import { describeEachDialect, startTestService, T0, type TestService } from './helpers/service.js';

/**
 * /metrics as Prometheus reads it: the exposition of a node that has answered, refused and
 * recorded calls passes `promtool check metrics` (Debian's prometheus package; .ci/run installs
 * it). promtool also lints: names, units, counters ending in _total, HELP on every family.
 */

const promtool = spawnSync('promtool', ['--version']).status === 0;
if (!promtool && process.env.FINDGUARD_REQUIRE_SERVICES === '1') throw new Error('promtool is required in CI (apt-get install prometheus)');

describeEachDialect('/metrics and promtool', (dialect) => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService(dialect);
    await mirrorAccount(svc, 'caller', [], { createdAt: new Date(T0 - 400 * 86_400_000).toISOString(), phoneRegion: 'US' });
    const token = await svc.tokenFor('caller');
    for (const n of [NUMBERS.usA, NUMBERS.usB, NUMBERS.gbA]) await lookup(svc, token, { phone: n });
    await lookup(svc, token, { phone: 'not a number' });
  });
  afterAll(async () => svc?.stop());

  it.skipIf(!promtool)('passes promtool check metrics', async () => {
    const res = await svc.app.inject({ method: 'GET', url: '/metrics', headers: svc.internal });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('findguard_discovery_calls_total');
    const check = spawnSync('promtool', ['check', 'metrics'], { input: res.body, encoding: 'utf8' });
    expect({ status: check.status, out: `${check.stdout}${check.stderr}`.trim() }).toEqual({ status: 0, out: '' });
  });
});
