import { fetchTransport, type Transport } from '../client/index.js';
import { importLineOf } from '../population/index.js';
import { systemClock } from '../util/clock.js';
import { BaseDriver, REMOTE_POLICY, type NewAccount } from './driver.js';
import { WorkLedger } from './pow.js';
import type { Connection, World } from './world.js';

/**
 * A running deployment over real HTTP on its own (wall) clock: events run in simulated order as
 * fast as the target answers. Client addresses travel in X-Forwarded-For, which the target
 * believes only if the simulator's address is in its FINDGUARD_TRUSTED_PROXIES.
 */
export class RemoteDriver extends BaseDriver {
  readonly clock = systemClock;
  readonly policy = REMOTE_POLICY;
  readonly work = new WorkLedger(null);
  /**
   * The target's clock, not the scenario's, dates the accounts: the world's start maps to the
   * target's time when seeding begins (`Date` of its answer, less this process's clock), so each
   * account has the age the scenario gave it there. Dated by the scenario's calendar, a run in
   * December of a scenario set in January made every fresh attacker account eleven months old, and
   * one set in the future had its population refused (createdAt past the target's clock).
   */
  private worldToTarget = 0;
  private targetSkew = 0;
  constructor(
    private readonly baseUrl: string,
    private readonly serviceKey: string,
    jwtSecret: string,
  ) {
    super({ kind: 'hs256', secret: Buffer.from(jwtSecret, 'utf8'), local: false }, 90 * 86_400);
  }

  advanceTo(): void {}

  async settle(): Promise<void> {}

  private async internal(method: 'PUT' | 'POST' | 'GET', path: string, body?: unknown, contentType = 'application/json'): Promise<Response> {
    return fetch(new URL(path, this.baseUrl), {
      method,
      headers: { authorization: `Bearer ${this.serviceKey}`, ...(body !== undefined ? { 'content-type': contentType } : {}) },
      ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });
  }

  /** The target's time now, from its `Date` header (whole seconds), and how far this process's clock is from it. */
  private async targetClock(): Promise<void> {
    const res = await this.internal('GET', '/healthz');
    const date = Date.parse(res.headers.get('date') ?? '');
    this.targetSkew = Number.isFinite(date) ? date - Date.now() : 0;
  }

  /** When `at` in the scenario's time falls at the target: never later than the target's now (a run outpaces the wall). */
  private onTarget(at: number): number {
    return Math.min(at + this.worldToTarget, Date.now() + this.targetSkew);
  }

  async seed(world: World, onProgress?: (accounts: number) => void): Promise<void> {
    await this.targetClock();
    this.worldToTarget = Date.now() + this.targetSkew - world.start;
    const chunk = 5000;
    for (let i = 0; i < world.existing; i += chunk) {
      const lines: string[] = [];
      for (let j = i; j < Math.min(world.existing, i + chunk); j++) {
        if (!world.presentAtStart(j)) continue;
        const a = world.account(j);
        lines.push(importLineOf({ ...a, createdAt: this.onTarget(a.createdAt) }));
      }
      const res = await this.internal('POST', '/internal/v1/import', lines.join('\n'), 'application/x-ndjson');
      if (!res.ok) throw new Error(`import at account ${i}: HTTP ${res.status}`);
      onProgress?.(Math.min(world.existing, i + chunk));
    }
  }

  async createAccount(a: NewAccount): Promise<void> {
    const res = await this.internal('PUT', `/internal/v1/accounts/${a.id}`, {
      handle: a.handle,
      createdAt: new Date(this.onTarget(a.createdAt)).toISOString(),
      phoneRegion: a.phoneRegion,
      signup: a.signup,
    });
    if (!res.ok) throw new Error(`creating ${a.id}: HTTP ${res.status}`);
    for (const p of a.phones) await this.internal('POST', `/internal/v1/accounts/${a.id}/contact-points`, { kind: 'phone', ...p });
  }

  transport(conn: Connection): Transport {
    const inner = fetchTransport(this.baseUrl);
    return { send: (req) => inner.send({ ...req, headers: { ...req.headers, 'x-forwarded-for': conn.ip } }) };
  }

  async suspended(ids: readonly string[]): Promise<Map<string, number | undefined>> {
    const out = new Map<string, number | undefined>();
    for (const id of ids) {
      const res = await this.internal('GET', `/internal/v1/accounts/${id}`);
      // The internal API does not say since when: the attacker's first 403 stands in for it.
      if (res.ok && ((await res.json()) as { findguardStatus?: string }).findguardStatus === 'suspended') out.set(id, undefined);
    }
    return out;
  }

  async close(): Promise<void> {}
}
