import { AppError } from '../errors.js';

/** An opaque page cursor: the (time, id) of the last row returned, for keyset paging newest first. */
export function encodeCursor(at: number, id: string): string {
  return Buffer.from(`${at}:${id}`, 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string): { at: number; id: string } {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const i = text.indexOf(':');
  const at = i > 0 ? Number(text.slice(0, i)) : NaN;
  if (!Number.isSafeInteger(at) || cursor.length > 400) throw new AppError('invalid_request', 'cursor is not one this API gave');
  return { at, id: text.slice(i + 1) };
}
