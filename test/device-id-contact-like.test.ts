import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isContactLike } from '../src/directory/contact-like.js';
import { makeSignup } from '../src/population/attributes.js';
import { SeededRandom } from '../src/util/random.js';
import { lookup, mirrorAccount, NUMBERS, sync } from './helpers/fixtures.js';
import { startTestService, type TestService } from './helpers/service.js';

/**
 * X-Device-Id is an opaque installation id, stored verbatim in lookup events: one that is or holds
 * a phone number or an email address is refused (directory/contact-like.ts isContactLike) with 400
 * invalid_request and details[0].reason device_id_contact_value, on lookup and sync alike; the ids
 * the simulator, the demo and the benchmarks send are not.
 */
describe('isContactLike', () => {
  it('finds numbers and addresses, whole or inside a longer id', () => {
    for (const id of [
      '+14155550188',
      '+1-415-555-0188',
      '+1(415)555.0188',
      '+44/7911/123456',
      '+1',
      'ios-+447911123456',
      '00447911123456',
      '004915123456789',
      'device.owner@example.org',
      'JANE@EXAMPLE.ORG',
      'app:jane@example.co.uk:1',
      '14155550188@s.whatsapp.net',
    ]) {
      expect(isContactLike(id), id).toBe(true);
    }
  });

  it('leaves opaque ids alone', () => {
    const rng = new SeededRandom(7);
    const simulated = Array.from({ length: 200 }, (_, i) => makeSignup(rng, i % 10).deviceId);
    for (const id of [
      ...simulated,
      `${simulated[0]}-2`,
      'farm-phone',
      'demo-phone-12',
      'twitter-2019-dev-41',
      'bench-5',
      'load-996',
      'dev-1',
      '3f2b9c1e-8d4a-4b6f-9e2d-0c1a2b3c4d5e',
      '0012ab34cd56ef78',
      'a+b',
      'build+12345',
      'user@localhost',
      '@handle',
      '490154203237518',
    ]) {
      expect(isContactLike(id), id).toBe(false);
    }
  });
});

describe('a contact-like X-Device-Id on the discovery API', () => {
  let svc: TestService;
  let token: string;
  beforeAll(async () => {
    svc = await startTestService('sqlite', { policy: 'none' });
    await mirrorAccount(svc, 'dev-id-caller', [{ value: NUMBERS.frA, purposes: ['two_factor'] }]);
    token = await svc.tokenFor('dev-id-caller');
  }, 60_000);
  afterAll(async () => svc?.stop());

  it('is refused with a coded 400 on lookup and sync, and nothing of it is stored or logged', async () => {
    for (const device of ['+447911123456', 'ios-+447911123456', '004915123456789', 'someone@example.net']) {
      for (const res of [await lookup(svc, token, { phone: NUMBERS.usB }, { 'x-device-id': device }), await sync(svc, token, { contacts: [NUMBERS.usB] }, { 'x-device-id': device })]) {
        expect(res.statusCode, res.body).toBe(400);
        const error = res.json().error as { code: string; message: string; details: { path: string; reason: string }[] };
        expect(error.code).toBe('invalid_request');
        expect(error.details).toEqual([expect.objectContaining({ path: 'headers/x-device-id', reason: 'device_id_contact_value' })]);
        expect(res.body).not.toContain(device);
      }
      svc.clock.advance(1000);
    }
    await svc.ctx.events.flush();
    const events = JSON.stringify((await sql`select * from lookup_events`.execute(svc.ctx.db.kysely)).rows);
    for (const value of ['7911123456', '15123456789', 'someone@example.net']) {
      expect(events).not.toContain(value);
      expect(svc.logs.text).not.toContain(value);
    }
  });

  it('an opaque id is taken and stored', async () => {
    svc.clock.advance(1000);
    const res = await lookup(svc, token, { phone: NUMBERS.usB }, { 'x-device-id': 'dev-0a1b2c3d4e5f6789' });
    expect(res.statusCode, res.body).toBe(200);
    await svc.ctx.events.flush();
    const events = JSON.stringify((await sql`select device_id from lookup_events`.execute(svc.ctx.db.kysely)).rows);
    expect(events).toContain('dev-0a1b2c3d4e5f6789');
  });
});

describe('a contact-like sign-up device id on the internal API and the import', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService('sqlite', { policy: 'none' });
  }, 60_000);
  afterAll(async () => svc?.stop());

  it('PUT answers a coded 400 and stores nothing; an opaque one is stored', async () => {
    for (const deviceId of ['+447911123456', 'android-+447911123456', 'someone@example.net']) {
      const res = await svc.app.inject({
        method: 'PUT',
        url: '/internal/v1/accounts/signup-dev-1',
        headers: svc.internal,
        payload: { handle: 'signup-dev', signup: { ip: '198.51.100.7', deviceId } },
      });
      expect(res.statusCode, res.body).toBe(400);
      expect(res.json().error).toMatchObject({ code: 'invalid_request', details: [expect.objectContaining({ path: 'signup/deviceId', reason: 'device_id_contact_value' })] });
      expect(res.body).not.toContain(deviceId);
    }
    expect(await svc.ctx.db.kysely.selectFrom('accounts').select('id').where('id', '=', 'signup-dev-1').executeTakeFirst()).toBeUndefined();
    const ok = await svc.app.inject({
      method: 'PUT',
      url: '/internal/v1/accounts/signup-dev-1',
      headers: svc.internal,
      payload: { handle: 'signup-dev', signup: { ip: '198.51.100.7', deviceId: 'dev-0a1b2c3d' } },
    });
    expect(ok.statusCode, ok.body).toBe(201);
    const row = await svc.ctx.db.kysely.selectFrom('accounts').select('signup_device').where('id', '=', 'signup-dev-1').executeTakeFirstOrThrow();
    expect(row.signup_device).toBe('dev-0a1b2c3d');
    expect(svc.logs.text).not.toContain('7911123456');
    expect(svc.logs.text).not.toContain('someone@example.net');
  });
});
