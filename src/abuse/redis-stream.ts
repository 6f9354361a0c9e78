/** Reading Redis stream replies, whose shapes ioredis leaves untyped. */

export type Entry = [id: string, fields: string[]];

export function entriesOf(value: unknown): Entry[] {
  if (!Array.isArray(value)) return [];
  const out: Entry[] = [];
  // Entries trimmed away while pending come back as null (Redis 6.2) and are simply skipped.
  for (const item of value) {
    if (Array.isArray(item) && typeof item[0] === 'string') out.push([item[0], Array.isArray(item[1]) ? (item[1] as unknown[]).map(String) : []]);
  }
  return out;
}

export function fieldOf(fields: string[], name: string): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

export function fieldMap(value: unknown): Map<string, unknown> {
  const map = new Map<string, unknown>();
  if (!Array.isArray(value)) return map;
  for (let i = 0; i + 1 < value.length; i += 2) map.set(String(value[i]), value[i + 1]);
  return map;
}

/** One group's entry in an XINFO GROUPS reply. */
export function groupOf(groups: unknown, name: string): Map<string, unknown> | undefined {
  if (!Array.isArray(groups)) return undefined;
  for (const g of groups) {
    const info = fieldMap(g);
    if (String(info.get('name')) === name) return info;
  }
  return undefined;
}

/** Orders stream ids ("ms-seq"). */
export function compareIds(a: string, b: string): number {
  const [am = '0', as = '0'] = a.split('-');
  const [bm = '0', bs = '0'] = b.split('-');
  const d = BigInt(am) - BigInt(bm);
  if (d !== 0n) return d < 0n ? -1 : 1;
  const s = BigInt(as) - BigInt(bs);
  return s === 0n ? 0 : s < 0n ? -1 : 1;
}

/** Entries of a stream that its length cap trimmed before a consumer group read them. */
export interface TrimmedUnread {
  lost: number;
  /** The group's read counter with them counted as passed (XGROUP SETID ... ENTRIESREAD). */
  entriesRead: number;
  /** The group's position: the lost entries came after it... */
  after: string;
  /** ...and before the stream's first entry (undefined: the stream is empty now). */
  before: string | undefined;
}

/**
 * From XINFO STREAM and the group's XINFO GROUPS entry: entries trimmed away (XADD MAXLEN) before
 * the group read them, or undefined when none were or Redis cannot tell (before 7.0, or a group
 * whose read counter Redis does not know). Redis 7 counts every entry ever added and every entry
 * delivered to the group. While the group's position lies before the stream's first entry, every
 * entry gone from the stream was either delivered to the group or lost. Our own trimming (MINID,
 * RedisEventConsumer.trim) removes only entries every group has acknowledged, so delivered ones.
 */
export function trimmedUnread(stream: Map<string, unknown>, group: Map<string, unknown>): TrimmedUnread | undefined {
  const added = stream.get('entries-added');
  const length = stream.get('length');
  const read = group.get('entries-read');
  if (typeof added !== 'number' || typeof length !== 'number' || typeof read !== 'number') return undefined;
  const after = String(group.get('last-delivered-id') ?? '0-0');
  const first = stream.get('first-entry');
  const before = Array.isArray(first) && typeof first[0] === 'string' ? first[0] : undefined;
  if (before !== undefined && compareIds(after, before) >= 0) return undefined;
  const gone = added - length;
  const lost = gone - read;
  return lost > 0 ? { lost, entriesRead: gone, after, before } : undefined;
}

/** When a stream id ("ms-seq") was generated, or undefined for the zero id. */
export function idTime(id: string): string | undefined {
  const ms = Number(id.split('-')[0]);
  return ms > 0 ? new Date(ms).toISOString() : undefined;
}
