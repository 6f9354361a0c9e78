import { SignJWT } from 'jose';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { maxDevTokenSeconds } from '../src/http/auth/jwt.js';
import { lookup, mirrorAccount, NUMBERS } from './helpers/fixtures.js';
import { describeEachDialect, JWT_SECRET, startTestService, type TestService } from './helpers/service.js';

/** FINDGUARD_JWT_MAX_LIFETIME: a token meant to live longer than the operator allows is any bad token. */
describeEachDialect('JWT maximum lifetime', (dialect) => {
  let strict: TestService;
  let open: TestService;
  beforeAll(async () => {
    strict = await startTestService(dialect, { policy: 'none', jwtMaxLifetime: '1h' });
    open = await startTestService(dialect, { policy: 'none' });
    for (const svc of [strict, open]) await mirrorAccount(svc, 'caller');
  });
  afterAll(async () => {
    await strict?.stop();
    await open?.stop();
  });

  /** A token for `caller` with these iat/exp offsets from now, in seconds (undefined: claim left out). */
  const token = (svc: TestService, iat: number | undefined, exp: number) => {
    const now = Math.floor(svc.clock.now() / 1000);
    let jwt = new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('caller').setExpirationTime(now + exp);
    if (iat !== undefined) jwt = jwt.setIssuedAt(now + iat);
    return jwt.sign(Buffer.from(JWT_SECRET));
  };
  const status = async (svc: TestService, jwt: string) => {
    const res = await lookup(svc, jwt, { phone: NUMBERS.usA });
    if (res.statusCode === 401) expect(res.json()).toEqual({ error: { code: 'unauthenticated', message: 'invalid or expired token' } });
    return res.statusCode;
  };

  it('refuses a token whose exp - iat exceeds the maximum, answered like any bad token', async () => {
    expect(await status(strict, await token(strict, 0, 3600))).toBe(200);
    expect(await status(strict, await token(strict, -1800, 1800))).toBe(200);
    expect(await status(strict, await token(strict, 0, 3601))).toBe(401);
    expect(await status(strict, await token(strict, 0, 10 * 365 * 86_400))).toBe(401);
    // Issued long ago and still valid: its lifetime is over the maximum even if little is left.
    expect(await status(strict, await token(strict, -7200, 60))).toBe(401);
  });

  it('dev tokens (findguard dev-token, the demo banner) never outlive the maximum, so the server accepts them', async () => {
    const dev = await strict.tokenFor('caller', 7 * 86_400);
    const claims = JSON.parse(Buffer.from(dev.split('.')[1]!, 'base64url').toString('utf8')) as { iat: number; exp: number };
    expect(claims.exp - claims.iat).toBe(3600);
    expect(await status(strict, dev)).toBe(200);
    expect(maxDevTokenSeconds(strict.secrets.jwt, 7 * 86_400)).toBe(3600);
    expect(maxDevTokenSeconds(open.secrets.jwt, 7 * 86_400)).toBe(7 * 86_400);
  });

  it('measures a token without iat, or with iat in the future, from now', async () => {
    expect(await status(strict, await token(strict, undefined, 3000))).toBe(200);
    expect(await status(strict, await token(strict, undefined, 3601))).toBe(401);
    // A future iat cannot stretch the bound: exp - iat is small, exp - now is not.
    expect(await status(strict, await token(strict, 86_400, 86_400 + 60))).toBe(401);
  });

  it('is off by default', async () => {
    expect(await status(open, await token(open, 0, 10 * 365 * 86_400))).toBe(200);
    expect(await status(open, await token(open, undefined, 10 * 365 * 86_400))).toBe(200);
  });
});
