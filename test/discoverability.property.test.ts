import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { lookup, mirrorAccount, sync } from './helpers/fixtures.js';
import { describeEachDialect, startTestService, type TestService } from './helpers/service.js';

type By = 'everyone' | 'contacts' | 'nobody';
const OWNERS = 2;
const CALLERS = 4;

/** What can happen between lookups: owners sync books and change mode, callers (un)verify their phones. */
const action = fc.oneof(
  fc.record({ type: fc.constant('sync' as const), owner: fc.nat(OWNERS - 1), book: fc.subarray([...Array(CALLERS).keys()]), strangers: fc.nat(3) }),
  fc.record({ type: fc.constant('mode' as const), owner: fc.nat(OWNERS - 1), by: fc.constantFrom<By>('everyone', 'contacts', 'nobody') }),
  fc.record({ type: fc.constant('verify' as const), caller: fc.nat(CALLERS - 1), verified: fc.boolean() }),
  fc.record({ type: fc.constant('ask' as const), caller: fc.nat(CALLERS), owner: fc.nat(OWNERS - 1), how: fc.constantFrom('lookup', 'sync') }),
);

describeEachDialect('"my contacts" exposure (property)', (dialect) => {
  let svc: TestService;
  let run = 0;
  beforeAll(async () => {
    svc = await startTestService(dialect, { policy: 'none' });
  });
  afterAll(async () => svc.stop());

  it("a contacts-mode owner is revealed only to callers whose verified phone is in the owner's latest synced book", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(action, { minLength: 1, maxLength: 14 }), fc.array(fc.constantFrom<By>('everyone', 'contacts', 'nobody'), { minLength: OWNERS, maxLength: OWNERS }), async (actions, startModes) => {
        run++;
        // Numbers of this run only: +49 151 RRRR 0XYZ.
        const num = (role: number, i: number) => `+49151${String(run).padStart(4, '0')}${role}${String(i).padStart(3, '0')}`;
        const ownerPhone = (o: number) => num(1, o);
        const callerPhone = (c: number) => num(2, c);
        const id = (kind: string, i: number) => `p${run}_${kind}${i}`;
        const mode: By[] = [...startModes];
        const book: Array<Set<number> | undefined> = [undefined, undefined];
        /** Numbers in the owner's latest kept book, strangers included: the rows of contact_books. */
        const rows: number[] = [0, 0];
        const verified: boolean[] = Array(CALLERS).fill(true);
        const ownerPoints: string[] = [];
        const callerPoints: string[] = [];
        const tokens: string[] = [];
        for (let o = 0; o < OWNERS; o++) {
          await mirrorAccount(svc, id('o', o));
          const res = await svc.app.inject({
            method: 'POST',
            url: `/internal/v1/accounts/${id('o', o)}/contact-points`,
            headers: svc.internal,
            payload: { kind: 'phone', value: ownerPhone(o), purposes: mode[o] === 'nobody' ? ['two_factor'] : ['two_factor', 'discovery'], verified: true, discoverableBy: mode[o] },
          });
          expect(res.statusCode).toBe(201);
          ownerPoints.push(res.json<{ id: string }>().id);
        }
        // Caller CALLERS has no phone at all.
        for (let c = 0; c <= CALLERS; c++) {
          const points = c < CALLERS ? [{ value: callerPhone(c), purposes: ['two_factor' as const] }] : [];
          callerPoints.push(...(await mirrorAccount(svc, id('c', c), points)));
          tokens.push(await svc.tokenFor(id('c', c)));
        }
        const ownerTokens = await Promise.all([...Array(OWNERS).keys()].map((o) => svc.tokenFor(id('o', o))));

        for (const a of actions) {
          if (a.type === 'sync') {
            const contacts = [...a.book.map(callerPhone), ...Array.from({ length: a.strangers }, (_, i) => num(3, i))];
            const res = await sync(svc, ownerTokens[a.owner]!, { contacts });
            expect(res.statusCode).toBe(200);
            // Kept only while in contacts mode.
            book[a.owner] = mode[a.owner] === 'contacts' ? new Set(a.book) : undefined;
            rows[a.owner] = book[a.owner] ? contacts.length : 0;
          } else if (a.type === 'mode') {
            const res = await svc.app.inject({
              method: 'PATCH',
              url: `/internal/v1/accounts/${id('o', a.owner)}/contact-points/${ownerPoints[a.owner]}`,
              headers: svc.internal,
              payload: { discoverableBy: a.by },
            });
            expect(res.statusCode).toBe(200);
            if (a.by !== 'contacts') {
              book[a.owner] = undefined;
              rows[a.owner] = 0;
            }
            mode[a.owner] = a.by;
          } else if (a.type === 'verify') {
            const res = await svc.app.inject({
              method: 'PATCH',
              url: `/internal/v1/accounts/${id('c', a.caller)}/contact-points/${callerPoints[a.caller]}`,
              headers: svc.internal,
              payload: { verified: a.verified },
            });
            expect(res.statusCode).toBe(200);
            verified[a.caller] = a.verified;
          } else {
            const res =
              a.how === 'lookup'
                ? await lookup(svc, tokens[a.caller]!, { phone: ownerPhone(a.owner) })
                : await sync(svc, tokens[a.caller]!, { contacts: [ownerPhone(a.owner)] });
            expect(res.statusCode).toBe(200);
            const revealed = a.how === 'lookup' ? res.json().match !== null : res.json().matches.length > 0;
            const inBook = a.caller < CALLERS && verified[a.caller]! && book[a.owner]?.has(a.caller) === true;
            const allowed = mode[a.owner] === 'everyone' || (mode[a.owner] === 'contacts' && inBook);
            expect(revealed).toBe(allowed);
            // The book table mirrors the model: the latest book, and only while in contacts mode.
            const stored = await svc.ctx.db.kysely.selectFrom('contact_books').select('hash').where('account_id', '=', id('o', a.owner)).execute();
            expect(stored).toHaveLength(rows[a.owner]!);
          }
        }
      }),
      { numRuns: Number(process.env.FINDGUARD_CONTACTS_PROPERTY_RUNS ?? 60), seed: 20190612 },
    );
    // 60 runs of real round trips: 6 s on a quiet machine, 20-26 s on PostgreSQL with both cores busy.
  }, 120_000);
});
