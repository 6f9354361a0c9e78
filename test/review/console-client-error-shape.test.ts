import { afterEach, expect, it, vi } from 'vitest';

/**
 * Review: the console's client (src/dashboard/assets/console.js `api`) reads the admin API's error
 * as `data.error` being the code and `data.message` the message, but every error body is
 * `{ error: { code, message, details } }` (src/errors.ts errorBody). So:
 *  - a session that ends while a page is open (idle timeout, sign-out elsewhere, revoked by an admin)
 *    answers 401 not_signed_in, and the check `data.error === 'not_signed_in'` never matches: the
 *    page stays put instead of going to the sign-in page;
 *  - every refusal is shown as "[object Object]: [object Object]" (ApiError code is the object,
 *    message undefined), e.g. the 403 csrf_invalid or 400 invalid_request an operator must read.
 */
afterEach(() => vi.unstubAllGlobals());

it('reads the coded error body and sends an ended session to the sign-in page', async () => {
  const assign = vi.fn();
  vi.stubGlobal('location', { pathname: '/dashboard/decisions', search: '', assign });
  vi.stubGlobal('sessionStorage', { setItem: vi.fn(), getItem: vi.fn(), removeItem: vi.fn() });
  vi.stubGlobal('fetch', vi.fn(async () => new Response(JSON.stringify({ error: { code: 'not_signed_in', message: 'sign in first' } }), { status: 401 })));
  // @ts-expect-error a browser module without types
  const { api, ApiError } = await import('../../src/dashboard/assets/console.js');
  const err = await api('POST', '/decisions', { scope: 'ip' }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ApiError);
  expect({ code: err.code, message: err.message }).toEqual({ code: 'not_signed_in', message: 'sign in first' });
  expect(assign).toHaveBeenCalledWith('/dashboard/sign-in');
});
