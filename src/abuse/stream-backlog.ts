/**
 * How full each partition's Redis stream is, as the serving nodes see it, and what that lets them
 * publish. The stream has a length cap (XADD MAXLEN ~), past which Redis drops the oldest entries
 * unread: an answered call's event among them is an exposure the records never get. Refused calls
 * cost the caller nothing, so while the workers are behind a flood of refusals could push the
 * answers out ahead of it. Two bars keep that from happening:
 * - past REFUSALS_SHARE of the cap, the events of refused and challenged calls are no longer
 *   published (counted, logged): refusals alone can never fill the stream;
 * - past ANSWERS_SHARE, answered calls fail closed (503) until the workers catch up: nothing is
 *   answered whose record the stream might drop.
 * The gap between the bars is room for the batches other nodes have in flight.
 */

/** Entries a partition's stream keeps by default (FINDGUARD_EVENT_STREAM_MAX_LENGTH). */
export const DEFAULT_MAX_STREAM_LENGTH = 2_000_000;
/** Share of the cap past which refusals' events are not published. */
export const REFUSALS_SHARE = 0.5;
/** Share of the cap past which answered calls fail closed. */
export const ANSWERS_SHARE = 0.9;
/** While a bar is passed, how often a length is read again (nothing else is sent to read it). */
export const RECHECK_MS = 1000;
/**
 * How often a batch also reads its stream's length; in between, this node counts what it added
 * itself. An XLEN with every batch was ~20 µs of a lookup's CPU when batches are small, and in
 * 100 ms no fleet comes near the 40% of the cap between the bars.
 */
export const READ_EVERY_MS = 100;

export class StreamBacklog {
  private readonly lengths: number[];
  private readonly checkedAt: number[];
  private readonly refusalBar: number;
  private readonly answerBar: number;

  constructor(
    partitions: number,
    cap: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.lengths = new Array<number>(partitions).fill(0);
    this.checkedAt = new Array<number>(partitions).fill(0);
    this.refusalBar = cap * REFUSALS_SHARE;
    this.answerBar = cap * ANSWERS_SHARE;
  }

  /** A length read from Redis (XLEN, in the same pipeline as a batch). */
  note(partition: number, length: number): void {
    this.lengths[partition] = length;
    this.checkedAt[partition] = this.now();
  }

  /** Entries this node added since the last read. */
  added(partition: number, n: number): void {
    this.lengths[partition]! += n;
  }

  /** Whether the next batch to this partition should read its length. */
  due(partition: number): boolean {
    return this.now() - this.checkedAt[partition]! >= READ_EVERY_MS;
  }

  /** The partition's length as last read. */
  length(partition: number): number {
    return this.lengths[partition]!;
  }

  /** Whether a refusal's event may be published to this partition. */
  takesRefusals(partition: number): boolean {
    return this.takesRefusalsAt(this.lengths[partition]!);
  }

  /** Whether a refusal's event may be published to a stream this long. */
  takesRefusalsAt(length: number): boolean {
    return length < this.refusalBar;
  }

  /** Whether an answered call's event may be published to this partition. */
  takesAnswers(partition: number): boolean {
    return this.lengths[partition]! < this.answerBar;
  }

  /** A partition past a bar whose length is older than RECHECK_MS: read it again. */
  stale(partition: number): boolean {
    return this.lengths[partition]! >= this.refusalBar && this.now() - this.checkedAt[partition]! >= RECHECK_MS;
  }

  /** The fullest partition's length as a share of the cap's answer bar (for logs). */
  get fullest(): number {
    return Math.max(0, ...this.lengths);
  }
}
