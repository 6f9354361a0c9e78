import type { Kysely } from 'kysely';
import type { Registry } from 'prom-client';
import type { HashKey } from '../config/config.js';
import type { Database } from '../db/schema.js';
import type { CommitLog } from '../db/transaction.js';
import type { DirectoryService } from '../directory/service.js';
import { listAudit, type AuditEntry } from '../incidents/audit.js';
import type { Incidents } from '../incidents/index.js';
import type { IpIntel } from '../net/index.js';
import type { CompiledPolicy } from '../policy/index.js';
import type { Clock } from '../util/clock.js';
import type { Random } from '../util/random.js';
import { ConsoleAccounts } from './accounts.js';
import { ConsoleCampaigns } from './campaigns.js';
import { ConsoleDecisions } from './decisions.js';
import { CampaignGraphs } from './graph.js';
import { ConsoleIncidents } from './incidents.js';
import { OverviewReader } from './overview.js';
import { ConsolePolicy } from './policy.js';
import { ConsoleWebhooks } from './webhooks.js';

/**
 * The operator console's use cases (what /admin/v1 and the dashboard show and do), built once per
 * serving process from the context's parts. Nothing here knows HTTP: the routes are thin adapters.
 */
export interface Console {
  overview: OverviewReader;
  campaigns: ConsoleCampaigns;
  graphs: CampaignGraphs;
  accounts: ConsoleAccounts;
  decisions: ConsoleDecisions;
  policy: ConsolePolicy;
  webhooks: ConsoleWebhooks;
  incidents: ConsoleIncidents;
  audit(q: { subject?: string | undefined; actorId?: string | undefined; before?: number | undefined; limit: number }): Promise<AuditEntry[]>;
}

export interface ConsoleDeps {
  db: Kysely<Database>;
  clock: Clock;
  random: Random;
  registry: Registry;
  directory: Pick<DirectoryService, 'getAccount'>;
  incidents: Pick<Incidents, 'enforcer' | 'campaigns' | 'decisions' | 'deliverer' | 'lifecycle' | 'reports'>;
  policy: CompiledPolicy;
  ipIntel: IpIntel;
  hashKeys: readonly HashKey[];
  log?: CommitLog;
}

export function createConsole(deps: ConsoleDeps): Console {
  const { db, clock, random } = deps;
  const log = deps.log ? { log: deps.log } : {};
  const deliverer = deps.incidents.deliverer;
  return {
    overview: new OverviewReader({ db, clock, registry: deps.registry }),
    campaigns: new ConsoleCampaigns(db),
    graphs: new CampaignGraphs(db),
    accounts: new ConsoleAccounts({ db, clock, directory: deps.directory, enforcer: deps.incidents.enforcer, campaigns: deps.incidents.campaigns }),
    decisions: new ConsoleDecisions({ db, clock, random, cache: deps.incidents.decisions, ...log }),
    policy: new ConsolePolicy({ db, policy: deps.policy, ipIntel: deps.ipIntel, hashKeys: deps.hashKeys }),
    incidents: new ConsoleIncidents({ db, clock, lifecycle: deps.incidents.lifecycle, reports: deps.incidents.reports }),
    webhooks: new ConsoleWebhooks({ db, clock, random, ...(deliverer ? { poke: () => deliverer.poke() } : {}), ...log }),
    audit: (q) =>
      listAudit(db, {
        limit: q.limit,
        ...(q.subject !== undefined ? { subject: q.subject } : {}),
        ...(q.actorId !== undefined ? { actorId: q.actorId } : {}),
        ...(q.before !== undefined ? { before: q.before } : {}),
      }),
  };
}

export type { Actor } from './actor.js';
