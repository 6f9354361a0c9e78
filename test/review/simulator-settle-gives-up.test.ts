import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadIpIntel } from '../../src/net/index.js';
import type { Service } from '../../src/main.js';
import { InProcessDriver, ipSourceFrom, World } from '../../src/simulate/index.js';
import { shrunk } from '../helpers/scenarios.js';

/**
 * Review (simulator fidelity): the in-process driver's settle() awaited the event bus's flush and
 * ignored its answer. The flush gives up after 5 s of real time while the engine still works (a
 * large world's evaluation on a loaded machine), and the replay then ran on before the decisions
 * landed: how many simulated actions ran unjudged depended on the machine's speed, against "the
 * same seed gives the same JSON".
 *
 * Expected: settle waits as long as the scaled-out driver does (2 minutes) and fails the run,
 * loudly, rather than moving on.
 */
describe('review: the simulator settles every decision before the next action', () => {
  let driver: InProcessDriver;
  beforeAll(async () => {
    const world = new World({ ...shrunk('twitter-2019'), population: { accounts: 200, discoverableShare: 0.6, occupancy: 0.35 } }, ipSourceFrom(await loadIpIntel()));
    driver = await InProcessDriver.create(world, { matchWorkers: 0 });
  }, 60_000);
  afterAll(async () => driver?.close());

  it('waits past the bus’s default 5 s, and fails the run when the engine never finishes', async () => {
    const events = (driver as unknown as { service: Service }).service.ctx.events;
    const flush = vi.spyOn(events, 'flush').mockResolvedValue(false);
    await expect(driver.settle()).rejects.toThrow(/did not finish handling the simulated events within 120 s/);
    expect(flush).toHaveBeenCalledWith(120_000);
    flush.mockRestore();
    await expect(driver.settle()).resolves.toBeUndefined();
  });
});
