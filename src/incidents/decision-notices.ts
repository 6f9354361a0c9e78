import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { OutageLog, errorText } from '../util/outage.js';
import { closeRedis, createRedis } from '../util/redis.js';

/**
 * How serving nodes hear that decisions changed elsewhere. A notice carries nothing but the fact:
 * a node that hears one reads what changed from the database (DecisionCache.refresh), so a notice
 * lost or doubled costs at most a read, and the timer's read catches what no notice announced.
 */
export interface DecisionNotices {
  /** After a commit: tell the other processes that rows changed. Never throws, never waits. */
  publish(rows: number): void;
  /** Calls `onNotice` whenever another process announces a change (and after a reconnection). */
  subscribe(onNotice: () => void): void;
  close(): Promise<void>;
}

/** One process (the embedded default): its own writes reach its cache directly; nothing to send. */
export const inProcessNotices: DecisionNotices = {
  publish: () => undefined,
  subscribe: () => undefined,
  close: async () => undefined,
};

export const DEFAULT_DECISIONS_CHANNEL = 'fg:decisions';

/**
 * Redis pub/sub on one channel. The publisher connects on first use (a CLI command that changes
 * nothing never connects); the subscriber is a connection of its own, as pub/sub requires, and
 * ioredis subscribes again after a reconnection, which is itself announced as a notice: changes
 * published while it was away were missed.
 */
export class RedisDecisionNotices implements DecisionNotices {
  private readonly pub: Redis;
  private sub: Redis | undefined;
  /** Publishing failing: warned once, until one works again. */
  private readonly outage: OutageLog;

  constructor(
    private readonly url: string,
    private readonly channel: string,
    private readonly logger: Logger,
  ) {
    // The rows are committed: every node's timer reads them within a second or two anyway.
    this.outage = new OutageLog({
      down: (err) => this.logger.warn({ err: errorText(err) }, 'could not publish a decisions notice; nodes will read the change on their timer'),
    });
    // A notice resent after a reconnection costs a read at most.
    this.pub = createRedis(url, { lazyConnect: true, resendAfterReconnect: true });
  }

  publish(rows: number): void {
    this.pub.publish(this.channel, String(rows)).then(
      () => this.outage.ok(),
      (err: unknown) => this.outage.failed(err),
    );
  }

  subscribe(onNotice: () => void): void {
    if (this.sub) return;
    // A subscriber only ever waits: no command timeout, and SUBSCRIBE waits for a connection.
    const sub = createRedis(this.url, { commandTimeoutMs: null, maxRetriesPerRequest: null, resendAfterReconnect: true });
    this.sub = sub;
    sub.on('message', (channel: string) => {
      if (channel === this.channel) onNotice();
    });
    let connectedBefore = false;
    sub.on('ready', () => {
      if (connectedBefore) onNotice();
      connectedBefore = true;
    });
    sub.subscribe(this.channel).catch(() => undefined);
  }

  /** Sends what is queued (a CLI command's last notice), but waits at most a second for a Redis that is away. */
  async close(): Promise<void> {
    await Promise.all([closeRedis(this.pub, 1000), ...(this.sub ? [closeRedis(this.sub, 1000)] : [])]);
  }
}
