import { afterAll, beforeAll, expect, it } from 'vitest';
import { importLines, lookup, mirrorAccount, sync } from './helpers/fixtures.js';
import { describeEachDialect, startTestService, type TestService } from './helpers/service.js';

/** Fictional-looking German mobiles: one per person in these scenes. */
const PHONE = {
  owner: '+4915112340001',
  friend: '+4915112340002',
  stranger: '+4915112340003',
  unverified: '+4915112340004',
  other: '+4915112340005',
  late: '+4915112340006',
};

type By = 'everyone' | 'contacts' | 'nobody';

describeEachDialect('"my contacts" discoverability (internal API and discovery)', (dialect) => {
  let svc: TestService;
  const tokens: Record<string, string> = {};
  let ownerPoint: string;

  const post = (accountId: string, payload: Record<string, unknown>) =>
    svc.app.inject({ method: 'POST', url: `/internal/v1/accounts/${accountId}/contact-points`, headers: svc.internal, payload });
  const patch = (accountId: string, id: string, payload: Record<string, unknown>) =>
    svc.app.inject({ method: 'PATCH', url: `/internal/v1/accounts/${accountId}/contact-points/${id}`, headers: svc.internal, payload });
  const setMode = async (accountId: string, id: string, discoverableBy: By) => {
    const res = await patch(accountId, id, { discoverableBy });
    expect(res.statusCode, res.body).toBe(200);
    return res.json<{ discoverableBy: By; purposes: string[]; discoverable: boolean }>();
  };
  /** What `who` learns about the owner's number, by lookup and by sync. */
  const sees = async (who: string, number = PHONE.owner): Promise<boolean> => {
    const single = await lookup(svc, tokens[who]!, { phone: number });
    const batch = await sync(svc, tokens[who]!, { contacts: [number] });
    expect(single.statusCode).toBe(200);
    expect(batch.statusCode).toBe(200);
    const found = single.json().match !== null;
    expect(batch.json().matches.length > 0).toBe(found);
    return found;
  };
  const ownerSyncs = (contacts: string[], previous?: { token: string; contacts: string[] }) =>
    sync(svc, tokens.owner!, { contacts, ...(previous ? { previous } : {}) });
  const bookRows = async (accountId: string) => svc.ctx.db.kysely.selectFrom('contact_books').selectAll().where('account_id', '=', accountId).execute();
  const reachRows = async (accountId: string) => svc.ctx.db.kysely.selectFrom('contact_reach').selectAll().where('account_id', '=', accountId).execute();

  beforeAll(async () => {
    svc = await startTestService(dialect, { policy: 'none' });
    await mirrorAccount(svc, 'owner');
    const res = await post('owner', { kind: 'phone', value: PHONE.owner, purposes: ['two_factor', 'discovery'], verified: true, discoverableBy: 'contacts' });
    expect(res.statusCode, res.body).toBe(201);
    ownerPoint = res.json<{ id: string }>().id;
    await mirrorAccount(svc, 'friend', [{ value: PHONE.friend, purposes: ['two_factor'] }]);
    await mirrorAccount(svc, 'stranger', [{ value: PHONE.stranger, purposes: ['two_factor', 'discovery'] }]);
    await mirrorAccount(svc, 'unverified', [{ value: PHONE.unverified, purposes: ['two_factor'], verified: false }]);
    await mirrorAccount(svc, 'nophone');
    for (const id of ['owner', 'friend', 'stranger', 'unverified', 'nophone', 'late']) tokens[id] = await svc.tokenFor(id);
  });
  afterAll(async () => svc.stop());

  it('sets the discovery purpose with the mode, and shows it', async () => {
    const view = await svc.app.inject({ method: 'GET', url: '/internal/v1/accounts/owner', headers: svc.internal });
    expect(view.json().contactPoints).toEqual([expect.objectContaining({ id: ownerPoint, discoverableBy: 'contacts', purposes: ['two_factor', 'discovery'], discoverable: true })]);
  });

  it('matches nobody before the owner has synced: the setting fails closed', async () => {
    expect(await sees('friend')).toBe(false);
    expect(await sees('stranger')).toBe(false);
    expect(await bookRows('owner')).toEqual([]);
  });

  it("matches a caller whose own verified phone is in the owner's latest book, and nobody else", async () => {
    const res = await ownerSyncs([PHONE.friend, PHONE.unverified, PHONE.other]);
    expect(res.statusCode).toBe(200);
    expect(await sees('friend')).toBe(true);
    expect(await sees('stranger')).toBe(false);
    // In the book, but the phone is not verified: it proves nothing about who holds it.
    expect(await sees('unverified')).toBe(false);
    expect(await sees('nophone')).toBe(false);
  });

  it('keeps only keyed hashes of the book: no number, in any column', async () => {
    const rows = await bookRows('owner');
    expect(rows).toHaveLength(3);
    const expected = [PHONE.friend, PHONE.unverified, PHONE.other].map((n) => svc.ctx.hasher.current('phone', n).hash.toString('hex')).sort();
    expect(rows.map((r) => Buffer.from(r.hash).toString('hex')).sort()).toEqual(expected);
    // Every value of every stored row, bytes read as text too: no number may appear in any form.
    const everything = [...rows, ...(await reachRows('owner'))]
      .flatMap((r) => Object.values(r).map((v) => (Buffer.isBuffer(v) ? `${Buffer.from(v).toString('latin1')} ${Buffer.from(v).toString('hex')}` : String(v))))
      .join('\n');
    for (const n of Object.values(PHONE)) {
      expect(everything).not.toContain(n);
      expect(everything).not.toContain(n.slice(3));
    }
  });

  it("the owner's newer sync without the caller removes the match; an incremental one keeps its previous set", async () => {
    const first = await ownerSyncs([PHONE.other]);
    expect(await sees('friend')).toBe(false);
    expect(await bookRows('owner')).toHaveLength(1);
    // previous ∪ contacts is the book: the friend added now, the covered number kept.
    const second = await ownerSyncs([PHONE.friend], { token: first.json().token, contacts: [PHONE.other] });
    expect(second.statusCode).toBe(200);
    expect(await sees('friend')).toBe(true);
    expect(await bookRows('owner')).toHaveLength(2);
  });

  it('a caller who verifies a phone in the book only then matches; unverifying it ends that', async () => {
    await ownerSyncs([PHONE.friend, PHONE.late]);
    await mirrorAccount(svc, 'late');
    const res = await post('late', { kind: 'phone', value: PHONE.late, purposes: [], verified: false });
    expect(res.statusCode).toBe(201);
    const id = res.json<{ id: string }>().id;
    expect(await sees('late')).toBe(false);
    expect((await patch('late', id, { verified: true })).statusCode).toBe(200);
    expect(await sees('late')).toBe(true);
    expect((await patch('late', id, { verified: false })).statusCode).toBe(200);
    expect(await sees('late')).toBe(false);
  });

  it('turning the setting off erases the book; turning it on again waits for the next sync', async () => {
    await ownerSyncs([PHONE.friend]);
    expect(await bookRows('owner')).toHaveLength(1);
    const everyone = await setMode('owner', ownerPoint, 'everyone');
    expect(everyone.discoverableBy).toBe('everyone');
    expect(await bookRows('owner')).toEqual([]);
    expect(await reachRows('owner')).toEqual([]);
    expect(await sees('stranger')).toBe(true);
    // A sync while not in contacts mode keeps nothing.
    await ownerSyncs([PHONE.friend]);
    expect(await bookRows('owner')).toEqual([]);

    await setMode('owner', ownerPoint, 'contacts');
    expect(await sees('friend')).toBe(false);
    expect(await sees('stranger')).toBe(false);
    await ownerSyncs([PHONE.friend]);
    expect(await sees('friend')).toBe(true);
    expect(await sees('stranger')).toBe(false);
  });

  it('nobody never matches, clears the discovery purpose and erases the book; purposes alone never widen the audience', async () => {
    await ownerSyncs([PHONE.friend, PHONE.stranger]);
    const nobody = await setMode('owner', ownerPoint, 'nobody');
    expect(nobody).toMatchObject({ discoverableBy: 'nobody', purposes: ['two_factor'], discoverable: false });
    expect(await bookRows('owner')).toEqual([]);
    await ownerSyncs([PHONE.friend, PHONE.stranger]);
    expect(await bookRows('owner')).toEqual([]);
    expect(await sees('friend')).toBe(false);
    expect(await sees('stranger')).toBe(false);
    // The app's older call (the discovery purpose back) restores the audience the point had: contacts, book empty.
    const back = await patch('owner', ownerPoint, { purposes: ['two_factor', 'discovery'] });
    expect(back.json()).toMatchObject({ discoverableBy: 'contacts', discoverable: true });
    expect(await sees('friend')).toBe(false);
    expect(await sees('stranger')).toBe(false);
    await ownerSyncs([PHONE.friend]);
    expect(await sees('friend')).toBe(true);
    // A purposes-only change keeps the mode.
    const again = await patch('owner', ownerPoint, { purposes: ['discovery'] });
    expect(again.json()).toMatchObject({ discoverableBy: 'contacts', purposes: ['discovery'] });
    expect(await sees('stranger')).toBe(false);
  });

  it('the discovery purpose without discoverableBy still means everyone', async () => {
    await mirrorAccount(svc, 'legacy', [{ value: '+4915112340099', purposes: ['discovery'] }]);
    const view = await svc.app.inject({ method: 'GET', url: '/internal/v1/accounts/legacy', headers: svc.internal });
    expect(view.json().contactPoints[0]).toMatchObject({ discoverableBy: 'everyone', discoverable: true });
    expect(await sees('stranger', '+4915112340099')).toBe(true);
    expect(await sees('nophone', '+4915112340099')).toBe(true);
  });

  it('refuses a discoverableBy that contradicts purposes, with a code', async () => {
    const a = await post('stranger', { kind: 'phone', value: '+4915112340098', purposes: ['discovery'], verified: true, discoverableBy: 'nobody' });
    expect(a.statusCode).toBe(400);
    expect(a.json().error.code).toBe('discoverability_conflict');
    const b = await patch('owner', ownerPoint, { purposes: ['two_factor'], discoverableBy: 'contacts' });
    expect(b.statusCode).toBe(400);
    expect(b.json().error.code).toBe('discoverability_conflict');
    const c = await patch('owner', ownerPoint, { discoverableBy: 'friends' });
    expect(c.statusCode).toBe(400);
    expect(c.json().error.code).toBe('invalid_request');
    // Refusals change nothing.
    expect(await sees('friend')).toBe(true);
  });

  it('a large sync (match workers on SQLite) answers contacts-mode points the same way', async () => {
    const filler = Array.from({ length: 400 }, (_, i) => `+491601${String(1_000_000 + i)}`);
    const batch = [...filler, PHONE.owner];
    const friend = await sync(svc, tokens.friend!, { contacts: batch });
    const stranger = await sync(svc, tokens.stranger!, { contacts: batch });
    expect(friend.json().matches).toEqual([expect.objectContaining({ index: 400, accountId: 'owner' })]);
    expect(stranger.json().matches).toEqual([]);
  });

  it('the import sets the mode too, and a re-import that does not say keeps it', async () => {
    const line = (discoverableBy?: By) => ({
      accountId: 'imported',
      handle: 'imp',
      contactPoints: [{ kind: 'phone', value: '+4915112340077', purposes: ['discovery'], verified: true, ...(discoverableBy ? { discoverableBy } : {}) }],
    });
    expect((await importLines(svc, [line('contacts')])).statusCode).toBe(200);
    tokens.imported = await svc.tokenFor('imported');
    expect(await sees('friend', '+4915112340077')).toBe(false);
    await sync(svc, tokens.imported, { contacts: [PHONE.friend] });
    expect(await bookRows('imported')).toHaveLength(1);
    expect(await sees('friend', '+4915112340077')).toBe(true);
    expect(await sees('stranger', '+4915112340077')).toBe(false);
    expect((await importLines(svc, [line()])).statusCode).toBe(200);
    expect(await sees('friend', '+4915112340077')).toBe(true);
    expect(await sees('stranger', '+4915112340077')).toBe(false);
    expect((await importLines(svc, [line('everyone')])).statusCode).toBe(200);
    expect(await bookRows('imported')).toEqual([]);
    expect(await sees('stranger', '+4915112340077')).toBe(true);
  });

  it('erasing the account erases its book', async () => {
    await setMode('owner', ownerPoint, 'contacts');
    await ownerSyncs([PHONE.friend, PHONE.other]);
    expect(await bookRows('owner')).toHaveLength(2);
    expect((await reachRows('owner')).length).toBeGreaterThan(0);
    const res = await svc.app.inject({ method: 'DELETE', url: '/internal/v1/accounts/owner', headers: svc.internal });
    expect(res.statusCode).toBe(204);
    expect(await bookRows('owner')).toEqual([]);
    expect(await reachRows('owner')).toEqual([]);
    expect(await sees('friend')).toBe(false);
  });
});
