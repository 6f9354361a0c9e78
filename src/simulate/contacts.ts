import { LOOKUP_PATH, SYNC_PATH, type Transport, type TransportRequest, type TransportResponse } from '../client/index.js';
import { accountId } from '../population/index.js';
import type { Driver, NewAccount } from './driver.js';
import type { World } from './world.js';

/** Issue 15's target for "my contacts" users: exposed only to callers in their own latest synced book. */
export interface ContactsModeResult {
  /** Organic accounts in "my contacts" mode that took part (present at the start or joined). */
  users: number;
  /** Distinct (owner, caller) pairs revealed to a caller whose verified phone was in the owner's latest synced book. */
  revealedInBook: number;
  /** Distinct contacts-mode owners revealed to a caller outside their book: must be 0. */
  exposedOutsideBook: number;
  /** Distinct (owner, caller) pairs behind exposedOutsideBook. */
  violations: number;
}

/**
 * The simulator's own check of "my contacts" (directory/discoverability.ts), independent of how
 * findguard stores books: it watches every discovery call any simulated client makes, remembers
 * what each contacts-mode owner's latest answered sync sent (previous and new numbers, as the
 * protocol defines the book), and checks every match naming such an owner against the caller's
 * own verified phones (the population's, or those a fake account was created with).
 */
export class ContactsOracle {
  private readonly phones = new Map<string, readonly string[]>();
  private readonly books = new Map<number, Set<string>>();
  private readonly callers = new Map<string, string | undefined>();
  private readonly inBook = new Set<string>();
  private readonly outside = new Set<string>();
  private readonly exposedOwners = new Set<number>();

  constructor(private readonly world: World) {}

  /**
   * The driver every actor uses, watched: its transports report each answer here, and accounts
   * created through it leave their verified phones. A Proxy, so whatever else a Driver offers
   * passes through untouched.
   */
  watch(driver: Driver): Driver {
    return new Proxy(driver, {
      get: (target, prop, receiver) => {
        if (prop === 'transport') return (conn: Parameters<Driver['transport']>[0]) => this.wrap(target.transport(conn));
        if (prop === 'createAccount')
          return (a: NewAccount) => {
            this.phones.set(a.id, a.phones.filter((p) => p.verified).map((p) => p.value));
            return target.createAccount(a);
          };
        const v: unknown = Reflect.get(target, prop, receiver);
        return typeof v === 'function' ? (v as (...args: unknown[]) => unknown).bind(receiver) : v;
      },
    });
  }

  result(): ContactsModeResult {
    const w = this.world;
    let users = 0;
    for (let i = 0; i < w.size; i++) {
      if (!w.contactsMode(i)) continue;
      const joined = i >= w.existing && w.population.account(i).createdAt <= w.end;
      if (w.presentAtStart(i) || w.joinsInSurge(i) !== undefined || joined) users++;
    }
    return { users, revealedInBook: this.inBook.size, exposedOutsideBook: this.exposedOwners.size, violations: this.outside.size };
  }

  private wrap(inner: Transport): Transport {
    return {
      send: async (req) => {
        const res = await inner.send(req);
        if (res.status === 200 && (req.path === LOOKUP_PATH || req.path === SYNC_PATH)) this.observe(req, res);
        return res;
      },
    };
  }

  private observe(req: TransportRequest, res: TransportResponse): void {
    const caller = this.callerOf(req);
    if (caller === undefined) return;
    const body = JSON.parse(res.body) as { match?: { accountId: string } | null; matches?: Array<{ accountId: string }>; previousMatches?: Array<{ accountId: string }> };
    for (const m of [...(body.match ? [body.match] : []), ...(body.matches ?? []), ...(body.previousMatches ?? [])]) this.check(caller, m.accountId);
    if (req.path !== SYNC_PATH) return;
    const index = this.indexOf(caller);
    if (index === undefined || !this.world.contactsMode(index)) return;
    // The book of an answered sync: its previous set and its new numbers (phones only).
    const sent = req.body as { contacts?: string[]; previous?: { contacts?: string[] } } | undefined;
    if (sent?.contacts === undefined && sent?.previous?.contacts === undefined) return;
    this.books.set(index, new Set([...(sent.previous?.contacts ?? []), ...(sent.contacts ?? [])]));
  }

  private check(caller: string, revealed: string): void {
    const owner = this.indexOf(revealed);
    if (owner === undefined || !this.world.contactsMode(owner)) return;
    const book = this.books.get(owner);
    const pair = `${owner}\u0000${caller}`;
    if (book && this.phonesOf(caller).some((p) => book.has(p))) {
      this.inBook.add(pair);
    } else {
      this.outside.add(pair);
      this.exposedOwners.add(owner);
    }
  }

  private phonesOf(id: string): readonly string[] {
    const known = this.phones.get(id);
    if (known) return known;
    const index = this.indexOf(id);
    if (index === undefined) return [];
    return this.world.population
      .account(index)
      .contactPoints.filter((c) => c.kind === 'phone' && c.verified)
      .map((c) => c.value);
  }

  private indexOf(id: string): number | undefined {
    const m = /^acct-(\d+)$/.exec(id);
    if (!m) return undefined;
    const i = Number(m[1]);
    return i < this.world.size && accountId(i) === id ? i : undefined;
  }

  /** The JWT's subject: who asked (a bearer token the driver signed; only its payload is read). */
  private callerOf(req: TransportRequest): string | undefined {
    const auth = req.headers.authorization ?? req.headers.Authorization;
    if (!auth) return undefined;
    if (this.callers.has(auth)) return this.callers.get(auth);
    let sub: string | undefined;
    try {
      const payload = JSON.parse(Buffer.from(auth.replace(/^Bearer /, '').split('.')[1] ?? '', 'base64url').toString('utf8')) as { sub?: unknown };
      sub = typeof payload.sub === 'string' ? payload.sub : undefined;
    } catch {
      sub = undefined;
    }
    this.callers.set(auth, sub);
    return sub;
  }
}
