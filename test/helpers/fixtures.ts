import type { TestService } from './service.js';

type Purpose = 'two_factor' | 'recovery' | 'discovery';

/** Mirrors an account and its contact points through the internal API, as the app would. */
export async function mirrorAccount(
  svc: Pick<TestService, 'app' | 'internal'>,
  id: string,
  points: Array<{ kind?: 'phone' | 'email'; value: string; purposes: Purpose[]; verified?: boolean; region?: string }> = [],
  account: Record<string, unknown> = {},
): Promise<string[]> {
  const put = await svc.app.inject({
    method: 'PUT',
    url: `/internal/v1/accounts/${id}`,
    headers: svc.internal,
    payload: { handle: `h_${id.replace(/[^a-z0-9]/gi, '')}`, ...account },
  });
  if (put.statusCode >= 300) throw new Error(`PUT account ${id}: ${put.statusCode} ${put.body}`);
  const ids: string[] = [];
  for (const p of points) {
    const res = await svc.app.inject({
      method: 'POST',
      url: `/internal/v1/accounts/${id}/contact-points`,
      headers: svc.internal,
      payload: { kind: p.kind ?? 'phone', value: p.value, purposes: p.purposes, verified: p.verified ?? true, ...(p.region ? { region: p.region } : {}) },
    });
    if (res.statusCode !== 201) throw new Error(`POST contact point: ${res.statusCode} ${res.body}`);
    ids.push(res.json<{ id: string }>().id);
  }
  return ids;
}

export async function lookup(svc: TestService, token: string, payload: Record<string, unknown>, headers: Record<string, string> = {}) {
  return svc.app.inject({
    method: 'POST',
    url: '/v1/discovery/lookup',
    headers: { authorization: `Bearer ${token}`, ...headers },
    payload,
  });
}

/** POSTs these objects to the NDJSON import, one per line, as the app's backend would. */
export function importLines(svc: TestService, lines: readonly unknown[]) {
  return svc.app.inject({
    method: 'POST',
    url: '/internal/v1/import',
    headers: { ...svc.internal, 'content-type': 'application/x-ndjson' },
    payload: lines.map((l) => JSON.stringify(l)).join('\n') + '\n',
  });
}

export async function sync(svc: TestService, token: string, payload: Record<string, unknown>, headers: Record<string, string> = {}) {
  return svc.app.inject({ method: 'POST', url: '/v1/discovery/sync', headers: { authorization: `Bearer ${token}`, ...headers }, payload });
}

/**
 * A sync by `account` a second after the last call, from `clientIp` as the trusted proxy at
 * 127.0.0.1 reports it (start the service with trustedProxies 127.0.0.1): the caller's address
 * then has the country and network the test's IP intelligence gives it.
 */
export async function syncFrom(svc: TestService, account: string, contacts: readonly string[], clientIp: string) {
  svc.clock.advance(1000);
  return svc.app.inject({
    method: 'POST',
    url: '/v1/discovery/sync',
    remoteAddress: '127.0.0.1',
    headers: { authorization: `Bearer ${await svc.tokenFor(account)}`, 'x-forwarded-for': clientIp },
    payload: { contacts },
  });
}

/** Valid numbers used across tests (fictional-range where the plan has one). */
export const NUMBERS = {
  usA: '+14155552671',
  usB: '+12025550143',
  gbA: '+447911123456',
  gbB: '+447400123456',
  deA: '+4915123456789',
  frA: '+33612345678',
  inA: '+919812345678',
  brA: '+5511987654321',
};

/** Mirrors every account a synthetic scene uses (src/abuse/synthetic.ts), created `createdAt`. */
export async function mirrorSceneAccounts(svc: TestService, ids: Iterable<string>, createdAt: number): Promise<void> {
  for (const id of ids) {
    const res = await svc.app.inject({
      method: 'PUT',
      url: `/internal/v1/accounts/${id}`,
      headers: svc.internal,
      payload: { handle: `h_${id.replace(/[^a-z0-9]/gi, '')}`, createdAt: new Date(createdAt).toISOString() },
    });
    if (res.statusCode >= 300) throw new Error(`mirroring ${id}: HTTP ${res.statusCode} ${res.body}`);
  }
}
