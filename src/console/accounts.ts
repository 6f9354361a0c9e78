import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { AccountView, DirectoryService } from '../directory/service.js';
import { AppError } from '../errors.js';
import { decisionsFor, type AccountCampaign, type Campaigns, type EnforcementAction, type Enforcer, type ReinstateResult } from '../incidents/index.js';
import type { Clock } from '../util/clock.js';
import type { Actor } from './actor.js';
import { view, type DecisionView } from './decisions.js';

/**
 * An account as the console shows it: found by its id or its handle, never by a phone number or
 * an email (the console must not become the oracle discovery refuses to be), with what findguard
 * holds against it and why.
 */

export interface AccountPage {
  account: Omit<AccountView, 'contactPoints' | 'risk'> & { contactPoints: { phone: number; email: number; discoverable: number } };
  /**
   * What findguard makes of the account: `suspended`, `restricted` (a throttle or challenge in
   * force), `watched` (in a campaign, or acted on before) or `none`; with the highest score of a
   * campaign it took part in.
   */
  risk: { level: 'suspended' | 'restricted' | 'watched' | 'none'; campaignScore: number | null };
  /** The evidence behind each enforcement action, newest first. */
  actions: EnforcementAction[];
  decisions: DecisionView[];
  campaigns: AccountCampaign[];
}

export interface AccountsDeps {
  db: Kysely<Database>;
  clock: Clock;
  directory: Pick<DirectoryService, 'getAccount'>;
  enforcer: Pick<Enforcer, 'actionsFor' | 'reinstate'>;
  campaigns: Pick<Campaigns, 'forAccount'>;
}

const HANDLE_MATCHES = 20;

export class ConsoleAccounts {
  constructor(private readonly deps: AccountsDeps) {}

  async byId(id: string): Promise<AccountPage> {
    const account = await this.deps.directory.getAccount(id);
    const now = this.deps.clock.now();
    const [actions, decisions, campaigns] = await Promise.all([
      this.deps.enforcer.actionsFor(id),
      decisionsFor(this.deps.db, 'account', id),
      this.deps.campaigns.forAccount(id),
    ]);
    const views = decisions.map((d) => view(d, now));
    const scores = campaigns.filter((c) => c.role === 'attacker').map((c) => c.campaignId);
    const campaignScore =
      scores.length === 0
        ? null
        : Number((await this.deps.db.selectFrom('campaigns').select((eb) => eb.fn.max('score').as('s')).where('id', 'in', scores).executeTakeFirst())?.s ?? 0);
    const level =
      account.findguardStatus === 'suspended'
        ? 'suspended'
        : views.some((d) => d.status === 'active')
          ? 'restricted'
          : scores.length > 0 || actions.length > 0
            ? 'watched'
            : 'none';
    const { contactPoints, risk: _risk, ...rest } = account;
    return {
      account: {
        ...rest,
        contactPoints: {
          phone: contactPoints.filter((c) => c.kind === 'phone').length,
          email: contactPoints.filter((c) => c.kind === 'email').length,
          discoverable: contactPoints.filter((c) => c.discoverable).length,
        },
      },
      risk: { level, campaignScore },
      actions,
      decisions: views,
      campaigns,
    };
  }

  /** Accounts whose handle is exactly this (handles need not be unique); ids and handles only. */
  async byHandle(handle: string): Promise<Array<{ id: string; handle: string; findguardStatus: 'active' | 'suspended' }>> {
    const rows = await this.deps.db.selectFrom('accounts').select(['id', 'handle', 'fg_status']).where('handle', '=', handle).orderBy('id').limit(HANDLE_MATCHES).execute();
    return rows.map((r) => ({ id: r.id, handle: r.handle, findguardStatus: r.fg_status }));
  }

  /** Lifts findguard's suspension (and what it caused); the reason is required and audited with it. */
  async reinstate(actor: Actor, id: string, reason: string): Promise<ReinstateResult> {
    if (reason.trim().length === 0) throw new AppError('invalid_request', 'a reason is required');
    return this.deps.enforcer.reinstate(id, {
      actor: actor.name,
      reason,
      by: { actor: { id: actor.id, name: actor.name, role: actor.role, via: actor.via }, from: actor.from, tool: actor.tool },
    });
  }
}
