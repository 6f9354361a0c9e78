import type { LookupEvent } from '../../src/abuse/events.js';
import type { IncidentActor } from '../../src/incidents/index.js';
import { makeEvent } from './events.js';
import type { TestService } from './service.js';

/** An analyst acting through the admin API under an API token. */
export const analyst = (id: string): IncidentActor => ({ actor: { id, name: id, role: 'analyst', via: 'token' }, from: null, tool: 'api' });

/** Event `n`: `caller`'s answered lookup of one number that revealed `revealed`, at `at`. */
export const answered = (n: number, caller: string, revealed: string, at: number): LookupEvent =>
  makeEvent(n, { accountId: caller, at, revealed: [revealed], matched: 1, numbers: 1, blocks: {} });

/**
 * Opens an incident for the campaigns and takes its first report to `notified` under the two-person
 * rule (op-a writes, submits and approves; op-b approves and notifies); returns the incident's id.
 */
export async function notifiedIncident(svc: TestService, campaignIds: string[], title = 'Scan'): Promise<string> {
  const life = svc.ctx.incidents.lifecycle;
  const id = (await life.open({ title, campaignIds }, analyst('op-a'))).id;
  await life.submit(id, analyst('op-a'));
  await life.approve(id, analyst('op-a'));
  await life.approve(id, analyst('op-b'));
  await life.notify(id, analyst('op-b'));
  return id;
}
