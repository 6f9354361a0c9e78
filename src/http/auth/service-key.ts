import { createHash, timingSafeEqual } from 'node:crypto';
import { AppError } from '../../errors.js';

/**
 * Checks the internal API's bearer key in constant time. Both sides are digested first so the
 * comparison takes the same time whatever the length of what was sent.
 */
export function serviceKeyChecker(serviceKey: string, what = 'service key'): (authorization: string | undefined) => void {
  const expected = createHash('sha256').update(serviceKey).digest();
  return (authorization) => {
    const m = authorization ? /^Bearer\s+(.+)$/i.exec(authorization.trim()) : null;
    const given = createHash('sha256').update(m?.[1] ?? '').digest();
    if (!timingSafeEqual(expected, given) || !m) throw new AppError('unauthenticated', `missing or wrong ${what}`);
  };
}
