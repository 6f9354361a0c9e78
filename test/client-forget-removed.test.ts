import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FindguardClient, injectTransport, type Transport, type TransportRequest } from '../src/client/index.js';
import { lookup, mirrorAccount } from './helpers/fixtures.js';
import { startTestService, type TestService } from './helpers/service.js';

const OWNER = '+4915112360001';
const FRIEND = '+4915112360002';
const OTHER = '+4915112360003';

/**
 * The SDK and "my contacts": findguard matches a contacts-mode owner against the numbers of their
 * latest sync, previous included, and the SDK's stored set only grows, so a contact removed from
 * the book keeps finding the owner until a sync leaves it out: forgetRemoved is that sync.
 */
describe('client sync({ forgetRemoved }) and a "my contacts" owner', () => {
  let svc: TestService;
  const sent: TransportRequest[] = [];
  let client: FindguardClient;
  beforeAll(async () => {
    svc = await startTestService('sqlite', { policy: 'none' });
    await mirrorAccount(svc, 'owner');
    const res = await svc.app.inject({
      method: 'POST',
      url: '/internal/v1/accounts/owner/contact-points',
      headers: svc.internal,
      payload: { kind: 'phone', value: OWNER, purposes: ['discovery'], verified: true, discoverableBy: 'contacts' },
    });
    expect(res.statusCode).toBe(201);
    await mirrorAccount(svc, 'friend', [{ value: FRIEND, purposes: ['two_factor'] }]);
    const inner = injectTransport(svc.app, { remoteAddress: '192.0.2.10' });
    const transport: Transport = { send: (req) => (sent.push(structuredClone(req)), inner.send(req)) };
    client = new FindguardClient({ transport, token: await svc.tokenFor('owner') });
  });
  afterAll(async () => svc.stop());

  const friendFinds = async () => (await lookup(svc, await svc.tokenFor('friend'), { phone: OWNER })).json().match !== null;

  it('keeps a removed contact in the book by default, and drops it with forgetRemoved', async () => {
    await client.sync([FRIEND, OTHER]);
    expect(await friendFinds()).toBe(true);
    // The friend left the book: an ordinary sync still carries it as previous.
    await client.sync([OTHER]);
    expect(sent.at(-1)!.body).toMatchObject({ previous: { contacts: [FRIEND, OTHER] } });
    expect(await friendFinds()).toBe(true);
    const r = await client.sync([OTHER], { forgetRemoved: true });
    expect(sent.at(-1)!.body).toEqual({ contacts: [OTHER] });
    expect(r.sent).toBe(1);
    expect(await friendFinds()).toBe(false);
    // Nothing removed: forgetRemoved changes nothing, the stored set goes along.
    await client.sync([OTHER, FRIEND], { forgetRemoved: true });
    expect(sent.at(-1)!.body).toMatchObject({ contacts: [FRIEND], previous: { contacts: [OTHER] } });
    expect(await friendFinds()).toBe(true);
  });
});
