import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { lookup, mirrorAccount, sync } from '../helpers/fixtures.js';
import { describeEachDialect, startTestService, type TestService } from '../helpers/service.js';

/**
 * Review, regression tests of behaviour found sound (issue: "protection has no side doors"):
 * - one number in any spelling (international, national under the region, 00 prefix, a national
 *   prefix after the calling code, full-width digits) is one normalised value: charged once, and
 *   only once across a token-covered re-sync in the same spellings; a re-spelt previous set is a
 *   different set (400 invalid_token), never a free answer;
 * - a "my contacts" number asked by someone outside its owner's book answers the same status,
 *   headers and bytes as a number nobody registered, in a lookup and in a sync.
 */
const POLICY = `name: review-sound
tiers:
  - name: all
layers:
  - id: account-new
    subject: account
    cost: new
    limits:
      all: { burst: 3, refill: 0, per: 1d }
`;

describeEachDialect('review: spellings, tokens and "my contacts" answers', (dialect) => {
  let svc: TestService;
  let policyDir: string;
  beforeAll(async () => {
    policyDir = mkdtempSync(join(tmpdir(), 'fg-review-sound-'));
    writeFileSync(join(policyDir, 'policy.yaml'), POLICY);
    svc = await startTestService(dialect, { policy: join(policyDir, 'policy.yaml') });
    await mirrorAccount(svc, 'spender', [{ value: '+4915119990011', purposes: ['two_factor'] }], { phoneRegion: 'DE' });
    await mirrorAccount(svc, 'findme', [{ value: '+4915120050001', purposes: ['discovery'] }]);
    await mirrorAccount(svc, 'prober', [{ value: '+4915119990012', purposes: ['two_factor'] }], { phoneRegion: 'DE' });
    await mirrorAccount(svc, 'bookless-prober', [{ value: '+4915119990014', purposes: ['two_factor'] }], { phoneRegion: 'DE' });
    await mirrorAccount(svc, 'bookless-syncer', [{ value: '+4915119990015', purposes: ['two_factor'] }], { phoneRegion: 'DE' });
    const shy = await svc.app.inject({ method: 'PUT', url: '/internal/v1/accounts/shy', headers: svc.internal, payload: { handle: 'h_shy' } });
    expect(shy.statusCode).toBe(201);
    const point = await svc.app.inject({
      method: 'POST',
      url: '/internal/v1/accounts/shy/contact-points',
      headers: svc.internal,
      payload: { kind: 'phone', value: '+4915120060001', purposes: ['discovery'], verified: true, discoverableBy: 'contacts' },
    });
    expect(point.statusCode, point.body).toBe(201);
    // The owner's book holds someone else, not the prober.
    expect((await sync(svc, await svc.tokenFor('shy'), { contacts: ['+4915119990013'] })).statusCode).toBe(200);
  });
  afterAll(async () => {
    await svc.stop();
    rmSync(policyDir, { recursive: true, force: true });
  });

  it('one number in five spellings is one value, charged once', async () => {
    const token = await svc.tokenFor('spender');
    const spellings = ['+4915120050001', '+49 151 2005 0001', '0151 20050001', '0049 151 20050001', '+49 (0)151 20050001', '\uFF10\uFF11\uFF15\uFF11\uFF12\uFF10\uFF10\uFF15\uFF10\uFF10\uFF10\uFF11'];
    const first = await sync(svc, token, { region: 'DE', contacts: spellings });
    expect(first.statusCode, first.body).toBe(200);
    const body = first.json();
    expect(body.invalid).toEqual([]);
    expect(body.matches.map((m: { index: number; accountId: string }) => [m.index, m.accountId])).toEqual(spellings.map((_, i) => [i, 'findme']));
    // Two more new numbers fit the budget of three: the six spellings cost one.
    const more = await sync(svc, token, { region: 'DE', contacts: ['+4915120050002', '+4915120050003'], previous: { token: body.token, contacts: spellings } });
    expect(more.statusCode, more.body).toBe(200);
    // The same set again under its token costs nothing, and its matches are answered again.
    const again = await sync(svc, token, { region: 'DE', contacts: [], previous: { token: more.json().token, contacts: [...spellings, '+4915120050002', '+4915120050003'] } });
    expect(again.statusCode, again.body).toBe(200);
    expect(again.json().previousMatches).toHaveLength(spellings.length);
    // A fourth new number does not fit.
    expect((await sync(svc, token, { region: 'DE', contacts: ['+4915120050004'] })).statusCode).toBe(429);
  });

  it('a previous set re-spelt from the one its token covers is refused, not answered', async () => {
    const token = await svc.tokenFor('prober');
    const first = await sync(svc, token, { region: 'DE', contacts: ['0151 20050001'] });
    expect(first.statusCode).toBe(200);
    const respelt = await sync(svc, token, { region: 'DE', contacts: [], previous: { token: first.json().token, contacts: ['+4915120050001'] } });
    expect(respelt.statusCode).toBe(400);
    expect(respelt.json()).toEqual({ error: { code: 'invalid_token', message: expect.any(String) } });
    expect(respelt.body).not.toContain('findme');
  });

  it('a "my contacts" number outside the owner\'s book answers like an unregistered one, headers included', async () => {
    const token = await svc.tokenFor('bookless-prober');
    const shape = (res: { statusCode: number; body: string; headers: Record<string, unknown> }) =>
      JSON.stringify({ status: res.statusCode, body: res.body.replace(/"token":"[^"]+"/, '"token":""'), headers: { ...res.headers, date: undefined } });
    const lookups = [await lookup(svc, token, { phone: '+4915120060001' }), await lookup(svc, token, { phone: '+4915120069999' })];
    expect(lookups[0]!.statusCode).toBe(200);
    expect(shape(lookups[0]!)).toBe(shape(lookups[1]!));
    // Another caller for the syncs: each caller's budget is three new numbers.
    const other = await svc.tokenFor('bookless-syncer');
    const syncs = [await sync(svc, other, { contacts: ['+4915120060001'] }), await sync(svc, other, { contacts: ['+4915120069998'] })];
    expect(syncs[0]!.statusCode).toBe(200);
    expect(shape(syncs[0]!)).toBe(shape(syncs[1]!));
  });
});
