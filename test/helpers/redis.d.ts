import { Redis } from 'ioredis';
export declare const REDIS_URL: string;
/** Whether the local Redis answers; CI (FINDGUARD_REQUIRE_SERVICES=1) treats absence as a failure. */
export declare function redisAvailable(): Promise<boolean>;
/** A suite that needs Redis: skipped with a notice when none answers, unless CI requires it (then its tests fail). */
export declare function describeRedis(name: string, fn: () => void): void;
/** A key prefix no other test file or run shares. */
export declare function uniquePrefix(name: string): string;
/** A plain client for inspecting keys (TTL) and cleaning up. */
export declare function redisClient(): Redis;
/** Deletes every key under prefix (SCAN, not KEYS, so a shared Redis is never blocked). */
export declare function deleteByPrefix(client: Redis, prefix: string): Promise<number>;
