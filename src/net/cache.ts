/**
 * A binary snapshot of the built tables, so that only the first start after installing or
 * updating the data packages pays for parsing ~110 MB of CSV (about 1.5 s); later starts read
 * one ~20 MB file. The snapshot is keyed by the package versions and the size and mtime of each
 * CSV, written atomically (temporary file + rename), and checked on read; any mismatch or error
 * means "rebuild from the CSVs", never a wrong answer. It holds only public data.
 */
import { mkdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FamilyTable, IpTables } from './tables.js';

const MAGIC = 0x50494746; // "FGIP" little-endian
const FORMAT = 1;

export interface CacheKey {
  source: Record<string, string>;
  files: Record<string, { size: number; mtimeMs: number }>;
}

export async function cacheKey(files: Record<string, string>, source: Record<string, string>): Promise<CacheKey> {
  const entries = await Promise.all(
    Object.entries(files).map(async ([k, path]) => {
      const st = await stat(path);
      return [k, { size: st.size, mtimeMs: Math.trunc(st.mtimeMs) }] as const;
    }),
  );
  return { source, files: Object.fromEntries(entries) };
}

interface Header {
  key: CacheKey;
  countries: string[];
  v4n: number;
  v6n: number;
  names: number;
  namesBytes: number;
}

function pad4(n: number): number {
  return (n + 3) & ~3;
}

export function cacheFileName(dir: string): string {
  return join(dir, `ip-intel-v${FORMAT}.bin`);
}

export async function writeCache(dir: string, key: CacheKey, t: IpTables): Promise<void> {
  const asns = new Uint32Array(t.asNames.size);
  const names: string[] = [];
  let k = 0;
  for (const [asn, name] of t.asNames) {
    asns[k++] = asn;
    names.push(name.replace(/\n/g, ' '));
  }
  const namesBuf = Buffer.from(names.join('\n'), 'utf8');
  const header: Header = {
    key,
    countries: [...t.countries],
    v4n: t.v4.n,
    v6n: t.v6.n,
    names: asns.length,
    namesBytes: namesBuf.length,
  };
  const headerBuf = Buffer.from(JSON.stringify(header), 'utf8');
  const pre = Buffer.alloc(12);
  pre.writeUInt32LE(MAGIC, 0);
  pre.writeUInt32LE(FORMAT, 4);
  pre.writeUInt32LE(headerBuf.length, 8);
  const parts: Buffer[] = [pre, headerBuf, Buffer.alloc(pad4(headerBuf.length) - headerBuf.length)];
  const section = (a: Uint32Array | Uint8Array): void => {
    const b = Buffer.from(a.buffer, a.byteOffset, a.byteLength);
    parts.push(b, Buffer.alloc(pad4(b.length) - b.length));
  };
  for (const f of [t.v4, t.v6]) {
    section(f.starts);
    section(f.asn);
    section(f.country);
  }
  section(asns);
  parts.push(namesBuf);
  await mkdir(dir, { recursive: true });
  const file = cacheFileName(dir);
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    await writeFile(tmp, Buffer.concat(parts));
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

function sameKey(a: CacheKey, b: CacheKey): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** The cached tables if the snapshot exists and matches the key, else undefined. */
export async function readCache(dir: string, key: CacheKey): Promise<IpTables | undefined> {
  let buf: Buffer;
  try {
    buf = await readFile(cacheFileName(dir));
  } catch {
    return undefined;
  }
  try {
    if (buf.length < 12 || buf.readUInt32LE(0) !== MAGIC || buf.readUInt32LE(4) !== FORMAT) return undefined;
    const hlen = buf.readUInt32LE(8);
    const header = JSON.parse(buf.toString('utf8', 12, 12 + hlen)) as Header;
    if (!sameKey(header.key, key)) return undefined;
    let off = 12 + pad4(hlen);
    const take = (bytes: number): ArrayBuffer => {
      if (off + bytes > buf.length) throw new RangeError('truncated cache');
      // Copy so the typed arrays are aligned and own their memory.
      const ab = new ArrayBuffer(bytes);
      new Uint8Array(ab).set(buf.subarray(off, off + bytes));
      off += pad4(bytes);
      return ab;
    };
    const family = (n: number, words: number): FamilyTable => {
      const starts = new Uint32Array(take(n * words * 4));
      const asn = new Uint32Array(take(n * 4));
      const country = new Uint8Array(take(n));
      return { n, starts, asn, country };
    };
    const v4 = family(header.v4n, 1);
    const v6 = family(header.v6n, 4);
    const asns = new Uint32Array(take(header.names * 4));
    if (off + header.namesBytes > buf.length) return undefined;
    const names = buf.toString('utf8', off, off + header.namesBytes).split('\n');
    if (names.length !== header.names && !(header.names === 0 && names.length === 1)) return undefined;
    const asNames = new Map<number, string>();
    for (let i = 0; i < header.names; i++) asNames.set(asns[i]!, names[i]!);
    return { v4, v6, countries: header.countries, asNames, source: key.source };
  } catch {
    return undefined;
  }
}
