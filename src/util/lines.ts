import type { Readable } from 'node:stream';

export class LineTooLongError extends Error {
  constructor(readonly line: number) {
    super(`line ${line} is longer than the limit`);
  }
}

/**
 * Splits a byte stream into lines with a bound on each line's length. readline cannot bound a
 * line, so one endless line would buffer an import's whole body in memory. An over-long line is
 * yielded as `undefined` (its bytes are dropped) so the caller can report it and carry on.
 * Splitting on 0x0A is safe for UTF-8: the byte never occurs inside a multi-byte character.
 */
export async function* readLines(
  stream: Readable | AsyncIterable<Buffer | string>,
  maxLineBytes: number,
  onBytes?: (n: number) => void,
): AsyncGenerator<string | undefined> {
  let parts: Buffer[] = [];
  let size = 0;
  let overflow = false;
  for await (const chunk of stream as AsyncIterable<Buffer | string>) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    onBytes?.(buf.length);
    let start = 0;
    for (let nl = buf.indexOf(0x0a, start); nl !== -1; nl = buf.indexOf(0x0a, start)) {
      const piece = buf.subarray(start, nl);
      if (overflow || size + piece.length > maxLineBytes) yield undefined;
      else yield decode(parts.length ? Buffer.concat([...parts, piece]) : piece);
      parts = [];
      size = 0;
      overflow = false;
      start = nl + 1;
    }
    const rest = buf.subarray(start);
    if (!overflow && rest.length > 0) {
      if (size + rest.length > maxLineBytes) {
        overflow = true;
        parts = [];
      } else {
        parts.push(Buffer.from(rest));
        size += rest.length;
      }
    }
  }
  if (overflow) yield undefined;
  else if (size > 0) yield decode(Buffer.concat(parts));
}

function decode(buf: Buffer): string {
  const s = buf.toString('utf8');
  return s.endsWith('\r') ? s.slice(0, -1) : s;
}
