/**
 * `tsx bench/redis-limits.ts`: what one discovery call's limits cost Redis itself, the figure the
 * capacity model needs (Redis runs scripts on one thread): the default policy's shape, seven
 * layers, the breaker and the strike counter, applied 5,000 times 100 at a time, with Redis's own
 * microseconds per EVALSHA (INFO commandstats, before and after: another client's EVALSHA calls
 * meanwhile would count too; it is time inside the command, so on a busy machine it includes time
 * the Redis process was not running), the Redis process's CPU time per apply (INFO cpu: every
 * client's commands meanwhile count) and this client's CPU per apply.
 */
import { Redis } from 'ioredis';
import { RedisLimitStore } from '../src/limits/redis-store.js';
const store = new RedisLimitStore('redis://127.0.0.1:6379', { prefix: `fg:h18:${process.pid}:` });
const r = new Redis();
const stat = async () => {
  const s = await r.info('commandstats');
  const m = /cmdstat_evalsha:calls=(\d+),usec=(\d+)/.exec(s)!;
  const cpu = await r.info('cpu');
  const get = (k: string) => Number(new RegExp(`^${k}:([0-9.]+)`, 'm').exec(cpu)?.[1] ?? 0);
  return { calls: Number(m[1]), usec: Number(m[2]), cpuUs: (get('used_cpu_user') + get('used_cpu_sys')) * 1e6 };
};
const scopes = ['account', 'account', 'device', 'ip', 'subnet', 'asn', 'country'] as const;
const input = (i: number) => ({
  charges: scopes.map((scope, k) => ({ layer: `l${k}`, scope, key: `l${k}:${k < 2 ? i % 64 : i % 300}`, cost: 1, burst: 1e12, rate: 1e12 / 86_400_000, perMs: 86_400_000, shadow: false })),
  breaker: { key: 'breaker:global', demand: 1, share: 1, windowMs: 300_000, alpha: 0.01, initialBaseline: 100, ratio: 5, minimum: 1e15, holdMs: 1_800_000, shadow: false },
  proof: false, strikeKey: `strike:${i % 64}`, strikeWindowMs: 86_400_000, now: Date.now(),
});
await store.apply(input(0));
for (let round = 0; round < 3; round++) {
  const a = await stat();
  const t = performance.now();
  const c0 = process.cpuUsage();
  for (let i = 0; i < 5000; i += 100) await Promise.all(Array.from({ length: 100 }, (_, k) => store.apply(input(i + k))));
  const c = process.cpuUsage(c0);
  const b = await stat();
  console.log(`redis usec per evalsha ${((b.usec - a.usec) / (b.calls - a.calls)).toFixed(1)} (${b.calls - a.calls} calls; wall time inside Redis, descheduled time included); Redis process CPU per apply ${((b.cpuUs - a.cpuUs) / 5000).toFixed(1)} µs (every client's work meanwhile counts); client CPU per apply ${((c.user + c.system) / 5000).toFixed(1)} µs; wall ${((performance.now() - t) * 1000 / 5000).toFixed(1)} µs`);
}
for await (const keys of r.scanStream({ match: `fg:h18:${process.pid}:*` }) as AsyncIterable<string[]>) if (keys.length) await r.del(...keys);
await store.close(); r.disconnect();
