import { formatProof, parseChallenge, solveChallenge } from '../../src/client/challenge.js';
import { discoverBlocks } from '../../src/population/index.js';
import { SeededRandom } from '../../src/util/random.js';
import { importLines } from '../helpers/fixtures.js';
import { startTestService, type Dialect, type TestService } from '../helpers/service.js';

export const DAY = 86_400_000;
export const HOUR = 3_600_000;
export const PROXY = '127.0.0.1';

/** The built-in default policy (no override), behind a trusted proxy so X-Forwarded-For is the client. */
export async function startDefault(dialect: Dialect = 'sqlite'): Promise<TestService> {
  return startTestService(dialect, { trustedProxies: PROXY });
}

/** Valid mobile numbers of a region, spread over many blocks (an address book, not a range). */
export class Numbers {
  private readonly used = new Set<string>();
  private readonly blocks = new Map<string, readonly string[]>();
  constructor(private readonly rng = new SeededRandom(7)) {}
  private blocksOf(region: string): readonly string[] {
    let b = this.blocks.get(region);
    if (!b) this.blocks.set(region, (b = discoverBlocks(region, 400)));
    return b;
  }
  one(region: string): string {
    const blocks = this.blocksOf(region);
    for (;;) {
      const prefix = blocks[this.rng.int(blocks.length)]!;
      const n = `${prefix}${String(this.rng.int(10_000)).padStart(4, '0')}`;
      if (!this.used.has(n)) {
        this.used.add(n);
        return n;
      }
    }
  }
}

export interface Acct {
  id: string;
  createdAt: number;
  phoneRegion: string;
  phone?: string;
  discoverable?: boolean;
  signup?: { ip: string; deviceId?: string; attested?: boolean };
}

/** Mirrors accounts through the NDJSON import, a chunk at a time. */
export async function importAccounts(svc: TestService, accounts: readonly Acct[]): Promise<void> {
  for (let i = 0; i < accounts.length; i += 500) {
    const lines = accounts.slice(i, i + 500).map((a) => ({
      accountId: a.id,
      handle: `h_${a.id.replace(/[^a-z0-9]/gi, '')}`,
      createdAt: new Date(a.createdAt).toISOString(),
      phoneRegion: a.phoneRegion,
      ...(a.signup ? { signup: a.signup } : {}),
      contactPoints: a.phone ? [{ kind: 'phone', value: a.phone, purposes: a.discoverable === false ? ['two_factor'] : ['two_factor', 'discovery'], verified: true }] : [],
    }));
    const res = await importLines(svc, lines);
    if (res.statusCode >= 300) throw new Error(`import: ${res.statusCode} ${res.body}`);
    const body = res.json<{ failed: number }>();
    if (body.failed > 0) throw new Error(`import failed lines: ${res.body}`);
  }
}

export interface CallResult {
  status: number;
  code?: string;
  scope?: string;
  /** A refusal's details.retryAfter, seconds. */
  retryAfter?: number;
  message?: string;
  token?: string;
  matches?: number;
  previousMatches?: number;
  challenged?: boolean;
}

export async function syncAs(
  svc: TestService,
  account: string,
  body: Record<string, unknown>,
  opts: { ip: string; device?: string; solve?: boolean },
): Promise<CallResult> {
  const headers: Record<string, string> = { authorization: `Bearer ${await svc.tokenFor(account)}`, 'x-forwarded-for': opts.ip };
  if (opts.device) headers['x-device-id'] = opts.device;
  const res = await svc.app.inject({ method: 'POST', url: '/v1/discovery/sync', remoteAddress: PROXY, headers, payload: body });
  if (res.statusCode === 428 && opts.solve) {
    const ch = parseChallenge(res.json().error.details)!;
    const sol = await solveChallenge(ch, { yieldEvery: 0 });
    const again = await svc.app.inject({ method: 'POST', url: '/v1/discovery/sync', remoteAddress: PROXY, headers: { ...headers, 'x-findguard-proof': formatProof(ch.id, sol.nonce) }, payload: body });
    return { ...resultOf(again.statusCode, again.json<Answer>()), challenged: true };
  }
  return resultOf(res.statusCode, res.json<Answer>());
}

interface Answer {
  token?: string;
  matches?: unknown[];
  previousMatches?: unknown[];
  error?: { code?: string; message?: string; details?: { scope?: string; retryAfter?: number } };
}

function resultOf(status: number, json: Answer): CallResult {
  if (status === 200) {
    const result: CallResult = { status, matches: json.matches?.length ?? 0 };
    if (json.token !== undefined) result.token = json.token;
    if (json.previousMatches !== undefined) result.previousMatches = json.previousMatches.length;
    return result;
  }
  const result: CallResult = { status };
  if (json.error?.code !== undefined) result.code = json.error.code;
  if (json.error?.details?.scope !== undefined) result.scope = json.error.details.scope;
  if (json.error?.details?.retryAfter !== undefined) result.retryAfter = json.error.details.retryAfter;
  if (json.error?.message !== undefined) result.message = json.error.message;
  return result;
}

/** Lets the embedded pipeline store and hand every event to the engine, then evaluates at the clock's time. */
export async function settle(svc: TestService): Promise<void> {
  await svc.ctx.events.flush();
  await svc.ctx.abuse.evaluate(svc.clock.now());
}

/** Decisions the engine recorded (not lifted), by account. */
export async function decisionsOf(svc: TestService): Promise<Array<{ subject: string; action: string; reason: string }>> {
  return svc.ctx.db.kysely.selectFrom('decisions').select(['subject', 'action', 'reason']).where('lifted_at', 'is', null).execute();
}

export async function suspendedIds(svc: TestService): Promise<string[]> {
  const rows = await svc.ctx.db.kysely.selectFrom('accounts').select(['id', 'fg_status']).where('fg_status', '=', 'suspended').execute();
  return rows.map((r) => r.id);
}

/** A book of `size` numbers, `hit` of them registered (drawn from `registered`), the rest fresh numbers of the mix. */
export function bookOf(nums: Numbers, registered: readonly string[], rng: SeededRandom, size: number, hitShare: number, mix: Record<string, number>): string[] {
  const hits = Math.round(size * hitShare);
  const out = new Set<string>();
  while (out.size < hits) out.add(registered[rng.int(registered.length)]!);
  const regions = Object.entries(mix);
  const total = regions.reduce((s, [, w]) => s + w, 0);
  for (const [region, w] of regions) {
    const k = Math.round(((size - hits) * w) / total);
    for (let i = 0; i < k; i++) out.add(nums.one(region));
  }
  return [...out];
}

/** `n` aged members of `region`, each with a discoverable phone, mirrored; answers their phones. */
export async function registeredMembers(svc: TestService, nums: Numbers, region: string, n: number): Promise<string[]> {
  const now = svc.clock.now();
  const members: Acct[] = Array.from({ length: n }, (_, i) => ({ id: `${region.toLowerCase()}-${i}`, createdAt: now - 400 * DAY, phoneRegion: region, phone: nums.one(region) }));
  await importAccounts(svc, members);
  return members.map((a) => a.phone!);
}
