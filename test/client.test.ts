import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  FindguardClient,
  MAX_PREVIOUS_VALUES,
  MAX_SYNC_VALUES,
  fetchTransport,
  injectTransport,
  leadingZeroBits,
  parseProof,
  proofDigest,
  solveChallenge,
  verifyProof,
  type Challenge,
  type ClientEvent,
  type Transport,
  type TransportRequest,
  type TransportResponse,
} from '../src/client/index.js';
import { FindguardError } from '../src/client/errors.js';
import { SyncBody } from '../src/discovery/schemas.js';
import { ManualClock } from '../src/util/clock.js';
import { SeededRandom } from '../src/util/random.js';
import { mirrorAccount, NUMBERS } from './helpers/fixtures.js';
import { startTestService, T0, type TestService } from './helpers/service.js';

/** Wraps a transport and keeps every request and response, to assert on what went over the wire. */
function recording(inner: Transport) {
  const log: Array<{ req: TransportRequest; res: TransportResponse }> = [];
  const transport: Transport = {
    async send(req) {
      const res = await inner.send(req);
      log.push({ req: structuredClone(req), res });
      return res;
    },
  };
  return { transport, log, bodies: () => log.map((l) => l.req.body as Record<string, any>) };
}

/** A scripted server: each call answers with the next response (the last one repeats). */
function scripted(responses: Array<(req: TransportRequest) => TransportResponse>) {
  const seen: TransportRequest[] = [];
  const transport: Transport = {
    async send(req) {
      seen.push(structuredClone(req));
      return responses[Math.min(seen.length, responses.length) - 1]!(req);
    },
  };
  return { transport, seen };
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) => (): TransportResponse => ({
  status,
  headers: { 'content-type': 'application/json', ...headers },
  body: JSON.stringify(body),
});
const ok = json(200, { match: null });
const err = (status: number, code: string, details?: unknown, headers: Record<string, string> = {}) =>
  json(status, { error: { code, message: code, ...(details === undefined ? {} : { details }) } }, headers);

/** A sleep that moves a simulated clock instead of waiting, and remembers each wait. */
function simulatedTime() {
  const clock = new ManualClock(T0);
  const waits: number[] = [];
  const sleep = async (ms: number) => {
    waits.push(ms);
    clock.advance(ms);
  };
  return { clock, waits, sleep };
}

describe('client against a real findguard', () => {
  let svc: TestService;
  let token: string;
  const client = (transport: Transport, extra: Partial<ConstructorParameters<typeof FindguardClient>[0]> = {}) =>
    new FindguardClient({ transport, token, deviceId: 'device-1', ...extra });

  beforeAll(async () => {
    svc = await startTestService('sqlite', { policy: 'none' });
    await mirrorAccount(svc, 'searcher');
    await mirrorAccount(svc, 'findable', [{ value: NUMBERS.usA, purposes: ['discovery'] }]);
    await mirrorAccount(svc, 'brit', [{ value: NUMBERS.gbA, purposes: ['discovery'] }]);
    await mirrorAccount(svc, 'mailer', [{ kind: 'email', value: 'mailer@example.com', purposes: ['discovery'] }]);
    token = await svc.tokenFor('searcher');
  });
  afterAll(async () => svc.stop());

  it('splits its work by the caps the server schema enforces', () => {
    // Read as JSON Schema, as an integrator would from /docs.
    const schema = JSON.parse(JSON.stringify(SyncBody)) as {
      properties: Record<'contacts' | 'emails', { maxItems: number }> & { previous: { properties: Record<'contacts' | 'emails', { maxItems: number }> } };
    };
    expect(schema.properties.contacts.maxItems).toBe(MAX_SYNC_VALUES);
    expect(schema.properties.emails.maxItems).toBe(MAX_SYNC_VALUES);
    expect(schema.properties.previous.properties.contacts.maxItems).toBe(MAX_PREVIOUS_VALUES);
    expect(schema.properties.previous.properties.emails.maxItems).toBe(MAX_PREVIOUS_VALUES);
  });

  it('looks up hits and misses, phones and emails, with a device id', async () => {
    const rec = recording(injectTransport(svc.app));
    const c = client(rec.transport);
    expect(await c.lookup({ phone: NUMBERS.usA })).toEqual({ match: { accountId: 'findable', handle: 'h_findable' } });
    expect(await c.lookup({ phone: '(415) 555-2671' }, { region: 'US' })).toEqual({ match: { accountId: 'findable', handle: 'h_findable' } });
    expect(await c.lookup({ phone: NUMBERS.inA })).toEqual({ match: null });
    expect(await c.lookup({ email: 'MAILER@example.com' })).toEqual({ match: { accountId: 'mailer', handle: 'h_mailer' } });
    expect(rec.log[0]!.req.headers['x-device-id']).toBe('device-1');
    expect(rec.bodies()[1]).toEqual({ phone: '(415) 555-2671', region: 'US' });
  });

  it('throws typed errors for coded answers', async () => {
    const c = client(injectTransport(svc.app));
    const bad = await c.lookup({ phone: '12' }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(FindguardError);
    expect(bad).toMatchObject({ status: 400, code: 'invalid_phone' });
    const anon = new FindguardClient({ transport: injectTransport(svc.app), token: 'nope' });
    await expect(anon.lookup({ phone: NUMBERS.usA })).rejects.toMatchObject({ status: 401, code: 'unauthenticated' });
  });

  it('sends only new numbers with the previous set and token, and maps results back to the input', async () => {
    const rec = recording(injectTransport(svc.app));
    const c = client(rec.transport, { token: () => svc.tokenFor('searcher') });
    const first = await c.sync([NUMBERS.usA, NUMBERS.inA, 'not a number', NUMBERS.usA]);
    expect(first).toMatchObject({
      matches: [{ value: NUMBERS.usA, accountId: 'findable', handle: 'h_findable' }],
      previousMatches: [],
      invalid: [{ value: 'not a number', code: 'invalid_phone' }],
      sent: 3,
      requests: 1,
      resynced: false,
    });
    expect(rec.bodies()[0]).toEqual({ contacts: [NUMBERS.usA, NUMBERS.inA, 'not a number'] });
    const t1 = JSON.parse(rec.log[0]!.res.body).token as string;

    const second = await c.sync([NUMBERS.gbA, NUMBERS.usA, '(415) 555-2671', NUMBERS.inA, 'not a number'], { region: 'US' });
    expect(rec.bodies()[1]).toEqual({
      region: 'US',
      contacts: [NUMBERS.gbA, '(415) 555-2671'],
      previous: { token: t1, contacts: [NUMBERS.usA, NUMBERS.inA, 'not a number'] },
    });
    expect(second.matches).toEqual([
      { value: NUMBERS.gbA, accountId: 'brit', handle: 'h_brit' },
      { value: '(415) 555-2671', accountId: 'findable', handle: 'h_findable' },
    ]);
    expect(second.previousMatches).toEqual([{ value: NUMBERS.usA, accountId: 'findable', handle: 'h_findable' }]);
    expect(second.invalid).toEqual([{ value: 'not a number', code: 'invalid_phone' }]);
    expect(second.sent).toBe(2);

    // Nothing new: one free re-check of the stored set; a removed contact's match is not reported.
    const third = await c.sync([NUMBERS.gbA, NUMBERS.inA]);
    expect(rec.bodies()[2]!.contacts).toEqual([]);
    expect(rec.bodies()[2]!.previous.contacts).toHaveLength(5);
    expect(third).toMatchObject({ matches: [], sent: 0, previousMatches: [{ value: NUMBERS.gbA, accountId: 'brit' }] });

    // The state survives a session: a new client picks up where this one stopped.
    const saved = JSON.parse(JSON.stringify(c.exportState()));
    expect(saved.phone.values).toHaveLength(5);
    const rec2 = recording(injectTransport(svc.app));
    const next = client(rec2.transport);
    next.importState(saved);
    const fourth = await next.sync([NUMBERS.usA, NUMBERS.deA]);
    expect(rec2.bodies()[0]!.contacts).toEqual([NUMBERS.deA]);
    expect(fourth).toMatchObject({ sent: 1, resynced: false, previousMatches: [{ value: NUMBERS.usA }] });
  });

  it('keeps emails in their own state', async () => {
    const rec = recording(injectTransport(svc.app));
    const c = client(rec.transport);
    await c.sync([NUMBERS.usA]);
    const e1 = await c.sync(['mailer@example.com', 'bad'], { kind: 'email' });
    expect(e1).toMatchObject({ matches: [{ value: 'mailer@example.com', accountId: 'mailer' }], invalid: [{ value: 'bad', code: 'invalid_email' }] });
    const e2 = await c.sync(['mailer@example.com', 'new@example.com'], { kind: 'email' });
    expect(rec.bodies()[2]).toMatchObject({ emails: ['new@example.com'], previous: { emails: ['mailer@example.com', 'bad'] } });
    expect(e2.previousMatches).toEqual([{ value: 'mailer@example.com', accountId: 'mailer', handle: 'h_mailer' }]);
    expect(Object.keys(c.exportState()).sort()).toEqual(['email', 'phone', 'version']);
  });

  it('drops a refused state and resyncs everything once', async () => {
    const first = client(injectTransport(svc.app));
    await first.sync([NUMBERS.usA]);
    const foreign = first.exportState(); // the searcher's token...
    const events: ClientEvent[] = [];
    const rec = recording(injectTransport(svc.app));
    const other = new FindguardClient({ transport: rec.transport, token: await svc.tokenFor('brit'), onEvent: (e) => events.push(e) });
    other.importState(foreign); // ...presented by another account
    const res = await other.sync([NUMBERS.usA, NUMBERS.gbA]);
    expect(rec.log.map((l) => l.res.status)).toEqual([400, 200]);
    expect(JSON.parse(rec.log[0]!.res.body).error.code).toBe('invalid_token');
    expect(rec.bodies()[1]).toEqual({ contacts: [NUMBERS.usA, NUMBERS.gbA] });
    expect(res).toMatchObject({ resynced: true, requests: 2, sent: 2, previousMatches: [] });
    expect(res.matches.map((m) => m.value)).toEqual([NUMBERS.usA, NUMBERS.gbA]);
    expect(events.filter((e) => e.type === 'resync')).toHaveLength(1);
    expect(other.stats.resyncs).toBe(1);

    const forged = client(injectTransport(svc.app));
    forged.importState({ version: 1, phone: { token: 'AAAA', values: [NUMBERS.usA], invalid: [] } });
    expect((await forged.sync([NUMBERS.usA])).resynced).toBe(true);
    expect(() => forged.importState({ version: 1, phone: { token: 'x', values: [1] } })).toThrow(TypeError);
  });

  it('splits more than 5,000 new numbers into chained syncs', async () => {
    const rec = recording(injectTransport(svc.app));
    const c = client(rec.transport);
    const many = Array.from({ length: 12_000 }, (_, i) => `+1415${2_000_000 + i}`);
    many.splice(7_000, 0, NUMBERS.usA);
    const res = await c.sync(many);
    const bodies = rec.bodies();
    expect(bodies.map((b) => b.contacts.length)).toEqual([5000, 5000, 2001]);
    expect(bodies[0]!.previous).toBeUndefined();
    expect(bodies[1]!.previous.token).toBe(JSON.parse(rec.log[0]!.res.body).token);
    expect(bodies[1]!.previous.contacts).toEqual(bodies[0]!.contacts);
    expect(bodies[2]!.previous.token).toBe(JSON.parse(rec.log[1]!.res.body).token);
    expect(bodies[2]!.previous.contacts).toHaveLength(10_000);
    expect(res).toMatchObject({ sent: 12_001, requests: 3, matches: [{ value: NUMBERS.usA, accountId: 'findable' }] });
    expect(c.exportState().phone!.values).toHaveLength(12_001);

    // The chained token covers all three chunks: a re-sync sends nothing new and is accepted.
    const again = await c.sync(many);
    expect(again).toMatchObject({ sent: 0, requests: 1, resynced: false, previousMatches: [{ value: NUMBERS.usA }] });

    const tooMany = Array.from({ length: MAX_PREVIOUS_VALUES - 12_000 + 1 }, (_, i) => `+1415${3_000_000 + i}`);
    await expect(c.sync([...many, ...tooMany])).rejects.toMatchObject({ code: 'invalid_request', details: { local: true } });
  });

  it('works over real HTTP with fetchTransport', async () => {
    const address = await svc.app.listen({ port: 0, host: '127.0.0.1' });
    const c = client(fetchTransport(`${address}/`));
    expect(await c.lookup({ phone: NUMBERS.usA })).toEqual({ match: { accountId: 'findable', handle: 'h_findable' } });
    expect((await c.sync([NUMBERS.gbA])).matches).toEqual([{ value: NUMBERS.gbA, accountId: 'brit', handle: 'h_brit' }]);
    await expect(c.lookup({ phone: '12' })).rejects.toMatchObject({ status: 400, code: 'invalid_phone' });
  });
});

describe('client retry policy (scripted server, simulated clock)', () => {
  const limited = (retryAfter: number, scope = 'ip') => err(429, 'rate_limited', { retryAfter, scope }, { 'retry-after': String(retryAfter) });

  it('waits Retry-After seconds through the injected sleep, then succeeds', async () => {
    const { clock, waits, sleep } = simulatedTime();
    const events: ClientEvent[] = [];
    const server = scripted([limited(30), limited(45, 'account'), ok]);
    const c = new FindguardClient({ transport: server.transport, token: 't', clock, sleep, onEvent: (e) => events.push(e) });
    expect(await c.lookup({ phone: NUMBERS.usA })).toEqual({ match: null });
    expect(waits).toEqual([30_000, 45_000]);
    expect(clock.now()).toBe(T0 + 75_000);
    expect(server.seen).toHaveLength(3);
    expect(events.filter((e) => e.type === 'retry')).toMatchObject([
      { reason: 'rate_limited', waitMs: 30_000, scope: 'ip', at: T0 },
      { reason: 'rate_limited', waitMs: 45_000, scope: 'account', at: T0 + 30_000 },
    ]);
    expect(c.stats).toMatchObject({ requests: 3, retries: 2 });
  });

  it('falls back to details.retryAfter, and reads an HTTP-date Retry-After against the clock', async () => {
    const { clock, waits, sleep } = simulatedTime();
    const dated = err(429, 'rate_limited', { scope: 'ip' }, { 'retry-after': new Date(T0 + 120_000).toUTCString() });
    const server = scripted([err(429, 'rate_limited', { retryAfter: 7, scope: 'device' }), dated, ok]);
    const c = new FindguardClient({ transport: server.transport, token: 't', clock, sleep });
    await c.lookup({ phone: NUMBERS.usA });
    expect(waits).toEqual([7_000, 113_000]);
  });

  it('gives up after maxRetries, and at once when asked to wait too long', async () => {
    const { clock, waits, sleep } = simulatedTime();
    const c = new FindguardClient({ transport: scripted([limited(5)]).transport, token: 't', clock, sleep, maxRetries: 2 });
    const e = (await c.lookup({ phone: NUMBERS.usA }).catch((x: unknown) => x)) as FindguardError;
    expect(e).toBeInstanceOf(FindguardError);
    expect(e).toMatchObject({ status: 429, code: 'rate_limited', scope: 'ip', retryAfter: 5 });
    expect(waits).toEqual([5_000, 5_000]);

    const long = simulatedTime();
    const server = scripted([limited(7200, 'subnet')]);
    const impatient = new FindguardClient({ transport: server.transport, token: 't', clock: long.clock, sleep: long.sleep });
    await expect(impatient.lookup({ phone: NUMBERS.usA })).rejects.toMatchObject({ code: 'rate_limited', retryAfter: 7200, scope: 'subnet' });
    expect(long.waits).toEqual([]);
    expect(server.seen).toHaveLength(1);
  });

  it('backs off exponentially with jitter on 503, bounded', async () => {
    const { clock, waits, sleep } = simulatedTime();
    const server = scripted([err(503, 'unavailable')]);
    const c = new FindguardClient({ transport: server.transport, token: 't', clock, sleep, random: new SeededRandom(1), backoff: { baseMs: 1000, maxMs: 3000 } });
    await expect(c.lookup({ phone: NUMBERS.usA })).rejects.toMatchObject({ status: 503, code: 'unavailable' });
    expect(server.seen).toHaveLength(4);
    expect(waits).toHaveLength(3);
    // Retry n waits in [cap/2, cap] with cap = min(max, base * 2^n).
    [1000, 2000, 3000].forEach((cap, n) => {
      expect(waits[n]).toBeGreaterThanOrEqual(cap / 2);
      expect(waits[n]).toBeLessThanOrEqual(cap);
    });
    expect(new Set(waits.map((w, n) => w / [1000, 2000, 3000][n]!)).size).toBeGreaterThan(1); // jittered, not fixed

    const recovering = scripted([err(503, 'unavailable'), ok]);
    const t = simulatedTime();
    const c2 = new FindguardClient({ transport: recovering.transport, token: 't', clock: t.clock, sleep: t.sleep, random: new SeededRandom(2) });
    expect(await c2.lookup({ phone: NUMBERS.usA })).toEqual({ match: null });
    expect(t.waits).toHaveLength(1);
  });

  it('reports non-findguard answers as unexpected_response', async () => {
    const html = (): TransportResponse => ({ status: 502, headers: {}, body: '<html>bad gateway</html>' });
    const c = new FindguardClient({ transport: scripted([html]).transport, token: 't' });
    await expect(c.lookup({ phone: NUMBERS.usA })).rejects.toMatchObject({ status: 502, code: 'unexpected_response' });
  });
});

describe('proof-of-work challenges', () => {
  const challengeOf = (difficulty: number, id = 'ch_1'): Challenge => ({
    id,
    algorithm: 'sha256-leading-zero-bits',
    difficulty,
    prefix: Buffer.from(`prefix-${id}`).toString('base64url'),
    expiresAt: new Date(T0 + 60_000).toISOString(),
  });

  it('counts leading zero bits and parses proofs', () => {
    expect(leadingZeroBits(Buffer.from([0, 0, 0x1f, 0xff]))).toBe(19);
    expect(leadingZeroBits(Buffer.from([0x80]))).toBe(0);
    expect(leadingZeroBits(Buffer.alloc(4))).toBe(32);
    expect(parseProof('a.b.12')).toEqual({ id: 'a.b', nonce: '12' });
    for (const bad of ['12', '.12', 'id.', 'id.012', 'id.-1', 'id.1e3', `id.${'9'.repeat(21)}`]) expect(parseProof(bad), bad).toBeUndefined();
  });

  it('solves and verifies; a wrong id, nonce or expiry is refused', async () => {
    const ch = challengeOf(14);
    const { nonce, hashes } = await solveChallenge(ch);
    expect(hashes).toBe(Number(nonce) + 1);
    expect(leadingZeroBits(proofDigest(ch.prefix, nonce))).toBeGreaterThanOrEqual(14);
    expect(verifyProof(ch, `ch_1.${nonce}`)).toBe(true);
    expect(verifyProof(ch, `ch_1.${nonce}`, T0)).toBe(true);
    expect(verifyProof(ch, `ch_1.${nonce}`, T0 + 60_001)).toBe(false);
    expect(verifyProof(ch, `ch_2.${nonce}`)).toBe(false);
    // Every smaller nonce failed, or the solver would have stopped there.
    expect(verifyProof(ch, `ch_1.${Number(nonce) - 1}`)).toBe(false);
    expect(verifyProof(ch, undefined)).toBe(false);
  });

  it('answers a 428 with X-Findguard-Proof on the same request and reports the hashes', async () => {
    const issued = challengeOf(12, 'ch.dotted');
    const events: ClientEvent[] = [];
    const server = scripted([
      err(428, 'challenge_required', { challenge: issued }),
      (req) => {
        const ok2 = verifyProof(issued, req.headers['x-findguard-proof'], T0);
        return ok2 ? json(200, { match: { accountId: 'a', handle: 'h' } })() : err(428, 'challenge_required', { challenge: issued })();
      },
    ]);
    const c = new FindguardClient({ transport: server.transport, token: 't', clock: new ManualClock(T0), onEvent: (e) => events.push(e) });
    expect(await c.lookup({ phone: NUMBERS.usA }, { region: 'US' })).toEqual({ match: { accountId: 'a', handle: 'h' } });
    expect(server.seen[0]!.headers['x-findguard-proof']).toBeUndefined();
    expect(server.seen[1]!.body).toEqual(server.seen[0]!.body);
    const solved = events.find((e) => e.type === 'challenge');
    expect(solved).toMatchObject({ type: 'challenge', id: 'ch.dotted', difficulty: 12 });
    expect(solved && solved.type === 'challenge' && solved.hashes).toBeGreaterThan(0);
    expect(c.stats.hashes).toBe(solved && solved.type === 'challenge' ? solved.hashes : -1);
  });

  it('refuses challenges that are too hard, malformed, or endless', async () => {
    const hard = scripted([err(428, 'challenge_required', { challenge: challengeOf(40) })]);
    const c = new FindguardClient({ transport: hard.transport, token: 't' });
    await expect(c.lookup({ phone: NUMBERS.usA })).rejects.toMatchObject({ status: 428, code: 'challenge_required' });
    expect(c.stats.hashes).toBe(0);

    const malformed = scripted([err(428, 'challenge_required', { challenge: { ...challengeOf(4), algorithm: 'md5' } })]);
    await expect(new FindguardClient({ transport: malformed.transport, token: 't' }).lookup({ phone: NUMBERS.usA })).rejects.toMatchObject({ status: 428 });

    const endless = scripted([err(428, 'challenge_required', { challenge: challengeOf(2) })]);
    const stubborn = new FindguardClient({ transport: endless.transport, token: 't', maxChallenges: 2 });
    await expect(stubborn.lookup({ phone: NUMBERS.usA })).rejects.toMatchObject({ code: 'challenge_required' });
    expect(endless.seen).toHaveLength(3);
    expect(stubborn.stats.challenges).toBe(2);
  });
});
