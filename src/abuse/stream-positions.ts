import type { Redis } from 'ioredis';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../db/schema.js';
import type { EventMetrics } from './metrics.js';
import { compareIds, fieldMap, groupOf, idTime } from './redis-stream.js';

/**
 * Events lost when Redis comes back without them. An answered call's event is durable once Redis
 * acknowledged its XADD; a Redis that then comes back empty (a restart without persistence, a
 * failover to a replica the last writes had not reached, a FLUSHALL) loses every event no worker
 * had read, and says nothing: the worker finds no group and creates one (or, restored from an
 * older snapshot, finds the group rewound). So each stream's lease holder keeps, in the database
 * (which outlives Redis), the newest entry its group acknowledged; the worker that then finds the
 * group gone, or the group's position or the stream's newest id behind that position, counts the
 * loss (findguard_events_lost_total, which raises the `events.lost` alert) and logs an
 * error naming the window: events published after the recorded position and before now, that no
 * worker had read, never reached the exposure records. How many there were Redis no longer knows:
 * counted as one (at least one may have been), the log says so.
 *
 * Not seen: a failover whose replica missed only the last few seconds of acknowledgements (the
 * position is recorded every few seconds, with the consumer's metrics), or missed only unread
 * entries (their loss leaves no trace in the group): knowing that needs the publishers' count.
 */

export class StreamPositions {
  constructor(private readonly db: Kysely<Database>) {}

  async get(stream: string, group: string): Promise<{ lastId: string; recordedAt: number } | undefined> {
    const row = await this.db.selectFrom('event_stream_positions').select(['last_id', 'recorded_at']).where('stream_key', '=', stream).where('group_name', '=', group).executeTakeFirst();
    return row ? { lastId: row.last_id, recordedAt: Number(row.recorded_at) } : undefined;
  }

  /** The group's first position, if none is recorded yet. */
  async start(stream: string, group: string, lastId: string, at: number): Promise<void> {
    await this.db
      .insertInto('event_stream_positions')
      .values({ stream_key: stream, group_name: group, last_id: lastId, recorded_at: at })
      .onConflict((oc) => oc.columns(['stream_key', 'group_name']).doNothing())
      .execute();
  }

  async record(stream: string, group: string, lastId: string, at: number): Promise<void> {
    await this.db.updateTable('event_stream_positions').set({ last_id: lastId, recorded_at: at }).where('stream_key', '=', stream).where('group_name', '=', group).execute();
  }

  /** Replaces `from` by a new position; false when another worker already did (it reports, not this one). */
  async replace(stream: string, group: string, from: string, lastId: string, at: number): Promise<boolean> {
    const r = await this.db
      .updateTable('event_stream_positions')
      .set({ last_id: lastId, recorded_at: at })
      .where('stream_key', '=', stream)
      .where('group_name', '=', group)
      .where('last_id', '=', from)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }
}

/** A consumer's newest acknowledged entry, recorded when it moved (every few seconds and on stop). */
export class AckedPosition {
  private acked: string | undefined;
  private recorded: string | undefined;

  constructor(
    private readonly positions: StreamPositions | undefined,
    private readonly stream: string,
    private readonly group: string,
  ) {}

  note(ids: readonly string[]): void {
    for (const id of ids) if (this.acked === undefined || compareIds(id, this.acked) > 0) this.acked = id;
  }

  async record(): Promise<void> {
    const acked = this.acked;
    if (!this.positions || acked === undefined || acked === this.recorded) return;
    await this.positions.record(this.stream, this.group, acked, Date.now());
    this.recorded = acked;
  }
}

export interface ResetCheck {
  redis: Redis;
  positions: StreamPositions;
  stream: string;
  group: string;
  consumer: string;
  /** Whether this consumer just created the group (XGROUP CREATE succeeded: it was missing). */
  created: boolean;
  now: number;
  metrics: EventMetrics;
  logger: Logger;
}

/**
 * After making sure the group exists: a group that had to be created though a position was
 * recorded, a group whose position (last-delivered-id) is behind that position, or a stream whose
 * newest id is, lost what it held. The group's own position is the measure that a publish cannot
 * hide: Redis restored from an older snapshot (or a replica that lagged) brings the group back
 * rewound, and a serve node's first XADD moves the stream's newest id past the recorded position
 * before any worker looks. Reported once (the worker that moves the recorded position on
 * reports), and the position starts again from the group as it is now.
 */
export async function checkStreamReset(c: ResetCheck): Promise<void> {
  const [stream, groups] = await Promise.all([c.redis.call('XINFO', 'STREAM', c.stream), c.redis.call('XINFO', 'GROUPS', c.stream)]);
  const newest = String(fieldMap(stream).get('last-generated-id') ?? '0-0');
  const group = groupOf(groups, c.group);
  // What the group was given: never behind an entry it acknowledged, however far the stream runs ahead.
  const delivered = group ? String(group.get('last-delivered-id') ?? '0-0') : '0-0';
  const known = await c.positions.get(c.stream, c.group);
  if (!known) {
    await c.positions.start(c.stream, c.group, c.created ? '0-0' : delivered, c.now);
    return;
  }
  const rewound = compareIds(delivered, known.lastId) < 0;
  const behind = compareIds(newest, known.lastId) < 0;
  if (!c.created && !rewound && !behind) return;
  if (!(await c.positions.replace(c.stream, c.group, known.lastId, delivered, c.now))) return;
  c.metrics.lost(1);
  c.logger.error(
    {
      consumer: c.consumer,
      stream: c.stream,
      group: c.group,
      lost: 'unknown, counted as 1',
      publishedAfter: idTime(known.lastId) ?? new Date(known.recordedAt).toISOString(),
      publishedBefore: new Date(c.now).toISOString(),
      groupMissing: c.created,
      lastAcknowledged: known.lastId,
      groupDelivered: delivered,
      streamNewest: newest,
    },
    'lookup events were lost in a Redis reset (the stream came back without its consumer group, or with the group or the stream behind what the group had acknowledged: a restart without persistence or from an older snapshot, a failover, a FLUSHALL): events published in this window that no worker had read never reach the abuse engine or the exposure records: exposures from that window are incomplete',
  );
}
