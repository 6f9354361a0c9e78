import type { Redis } from 'ioredis';
import { compareIds, fieldMap } from './redis-stream.js';

/** Consumers that have held nothing and done nothing for this long are removed from the group. */
const FORGET_CONSUMER_IDLE_MS = 3_600_000;

/**
 * Trims entries every group has acknowledged: everything before the oldest entry still pending
 * or not yet delivered in any group. Also forgets consumers of `group` long gone with nothing
 * pending (never `consumer`, the caller's own name). Run by a stream's lease holder now and then
 * (RedisEventConsumer).
 */
export async function trimAcknowledged(redis: Redis, streamKey: string, group: string, consumer: string): Promise<void> {
  const groups = (await redis.call('XINFO', 'GROUPS', streamKey)) as unknown[];
  let minId: string | undefined;
  for (const g of groups) {
    const info = fieldMap(g);
    const name = String(info.get('name'));
    let keep = String(info.get('last-delivered-id') ?? '0-0');
    if (Number(info.get('pending') ?? 0) > 0) {
      const summary = (await redis.call('XPENDING', streamKey, name)) as unknown[];
      if (typeof summary[1] === 'string') keep = summary[1];
    }
    if (minId === undefined || compareIds(keep, minId) < 0) minId = keep;
  }
  if (minId !== undefined && minId !== '0-0') await redis.call('XTRIM', streamKey, 'MINID', '~', minId);

  const consumers = (await redis.call('XINFO', 'CONSUMERS', streamKey, group)) as unknown[];
  for (const c of consumers) {
    const info = fieldMap(c);
    const name = String(info.get('name'));
    if (name !== consumer && Number(info.get('pending')) === 0 && Number(info.get('idle')) > FORGET_CONSUMER_IDLE_MS) {
      await redis.xgroup('DELCONSUMER', streamKey, group, name);
    }
  }
}
