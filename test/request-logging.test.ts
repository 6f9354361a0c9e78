import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mirrorAccount } from './helpers/fixtures.js';
import { startTestService, type TestService } from './helpers/service.js';

const NUMBER = '+447911123456';
const percentEncoded = (s: string) => [...s].map((c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`).join('');
/** Every way the number can be written in a URL, and the digits any of them would leave in a line. */
const IN_URL = [NUMBER, encodeURIComponent(NUMBER), percentEncoded(NUMBER), NUMBER.slice(1), `0${NUMBER.slice(3)}`];
const IN_LOGS = [...IN_URL, '7911123456', percentEncoded('7911'), '%2B44'];
/** A line as written, with the text of any Buffer serialised in it ({"type":"Buffer","data":[71,69,...]}). */
const readable = (line: string) => line + line.replace(/"data":\[([0-9,]*)\]/g, (_, bytes: string) => Buffer.from(bytes.split(',').filter(Boolean).map(Number)).toString('latin1'));

// Logging does not depend on the database: one dialect is enough.
describe('no request URL with a query reaches a log line', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService('sqlite', { policy: 'none', trustedProxies: '127.0.0.1' });
    await mirrorAccount(svc, 'caller');
  });
  afterAll(async () => svc.stop());

  it('at trace level, whatever the route, the answer or the encoding', async () => {
    const headers = { authorization: `Bearer ${await svc.tokenFor('caller')}`, 'content-type': 'application/json' };
    const statuses: number[] = [];
    const send = async (method: 'GET' | 'POST', url: string, payload?: string, extra: Record<string, string> = {}) => {
      const res = await svc.app.inject({ method, url, headers: { ...headers, ...extra }, remoteAddress: '127.0.0.1', ...(payload !== undefined ? { payload } : {}) });
      statuses.push(res.statusCode);
    };
    for (const q of IN_URL) {
      await send('POST', `/v1/discovery/lookup?phone=${q}`, JSON.stringify({ phone: '+14155552671' }));
      await send('POST', `/v1/discovery/lookup?phone=${q}&region=GB`, '{"phone": ');
      await send('POST', `/v1/discovery/lookup?${q}`, JSON.stringify({ phone: '+14155552671' }), { authorization: 'Bearer nope-nope-nope' });
      await send('GET', `/v1/discovery/${q}?phone=${q}`);
      await send('GET', `/internal/v1/accounts/caller?phone=${q}`, undefined, { authorization: `Bearer ${svc.internal.authorization.slice(7)}` });
      await send('GET', `/internal/v1/accounts/%E0%A4%A?phone=${q}`, undefined, svc.internal);
      await send('GET', `/internal/v1/accounts/${'a'.repeat(500)}?phone=${q}`, undefined, svc.internal);
      await send('GET', `/healthz?phone=${q}`);
    }
    // A proxy that forwards whatever the client wrote.
    await send('POST', '/v1/discovery/lookup', JSON.stringify({ phone: '+14155552671' }), { 'x-forwarded-for': NUMBER });
    expect(new Set(statuses)).toEqual(new Set([200, 400, 401, 404]));

    // A request Node's HTTP parser refuses (logged by Fastify at trace level, with the bytes received).
    const address = await svc.app.listen({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((resolve, reject) => {
      const socket = connect(Number(new URL(address).port), '127.0.0.1', () => socket.write(`GET /healthz?phone=${NUMBER} HTTP/1.1\r\nHost: x\r\nBroken header\r\n\r\n`));
      socket.on('data', () => undefined);
      socket.on('error', reject);
      socket.on('close', () => resolve());
    });

    const lines = svc.logs.lines;
    expect(lines.filter((l) => l.includes('incoming request')).length).toBeGreaterThanOrEqual(statuses.length);
    expect(lines.some((l) => l.includes('request completed'))).toBe(true);
    expect(lines.some((l) => l.includes('client error'))).toBe(true);
    const hits = lines.map(readable).filter((l) => IN_LOGS.some((f) => l.includes(f)));
    expect(hits).toEqual([]);
  });

  it('names the route matched and the client address as findguard reads it', async () => {
    svc.logs.lines.length = 0;
    await svc.app.inject({ method: 'GET', url: '/internal/v1/accounts/caller?x=1', headers: { ...svc.internal, 'x-forwarded-for': '[2001:DB8::1]:443' }, remoteAddress: '127.0.0.1' });
    const incoming = JSON.parse(svc.logs.lines.find((l) => l.includes('incoming request'))!);
    expect(incoming.req).toEqual({ method: 'GET', route: '/internal/v1/accounts/:accountId', remoteAddress: '2001:db8::1' });
  });
});
