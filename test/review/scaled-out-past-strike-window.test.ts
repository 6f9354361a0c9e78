import { describe, expect, it } from 'vitest';
import { loadIpIntel } from '../../src/net/index.js';
import { loadPolicy } from '../../src/policy/index.js';
import { ipSourceFrom, ScaledOutDriver, World } from '../../src/simulate/index.js';
import { shrunk } from '../helpers/scenarios.js';

/**
 * Review (simulator fidelity): a `--scaled-out` run charges its limits in Redis, whose script
 * expires an account's strikes with PEXPIRE, on Redis's own clock; the replay runs on a simulated
 * clock that covers a week in minutes. Past the policy's strike window (7 days) the run kept every
 * strike production lets lapse (an aged account stayed out of the trusted tier for the rest of a
 * 30- or 90-day scenario), so its figures were not the deployment's, and nothing said so.
 *
 * Expected: such a run is refused before it starts, naming the window; the in-process run, whose
 * store judges strikes by the simulated time, is not limited.
 */
describe('review: --scaled-out past the strike window', () => {
  it('refuses a scenario longer than the strike window, before creating anything', async () => {
    const ips = ipSourceFrom(await loadIpIntel());
    const world = new World({ ...shrunk('leaked-list'), days: 30 }, ips);
    // Nothing is reached: neither URL is a server.
    await expect(ScaledOutDriver.create(world, { postgresUrl: 'postgres://127.0.0.1:1/none', redisUrl: 'redis://127.0.0.1:1', policy: loadPolicy('default') })).rejects.toThrow(
      /replays at most the policy's strike window \(7 days; this scenario runs 30\)/,
    );
  });
});
