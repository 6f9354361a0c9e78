import type { Logger } from 'pino';
import type { LookupEvent } from './events.js';
import type { EventHandler } from './pipeline.js';

/**
 * Keeps a campaign's exposures exact after it was recorded. The engine records a campaign from the
 * events stored at that moment; an attacker answered in the seconds before its suspension reached
 * every node, whose event a worker stores only later (a stream's lag), would otherwise be missing
 * from the campaign, its report and its notices. So every stored batch's answered callers are
 * checked against the open campaigns, one indexed query a batch, and a campaign that has new
 * answers is recorded again (idempotent: a redelivered batch adds nothing).
 *
 * It sees every delivered batch whole (everyDelivery), events stored before included: a worker
 * that stored a batch and died (or lost the partition) before this ran leaves the entries pending,
 * and its successor, storing nothing new, would otherwise never check them; there is no state here
 * a resume() could rebuild that check from. The cost is one more check of a redelivered batch.
 */
export interface CampaignCatchUp {
  catchUp(accountIds: readonly string[]): Promise<number>;
}

export class LateExposures implements EventHandler {
  readonly everyDelivery = true;

  constructor(
    private readonly campaigns: CampaignCatchUp,
    private readonly logger: Logger,
  ) {}

  async handle(events: LookupEvent[]): Promise<void> {
    const answered = new Set<string>();
    for (const e of events) if (e.outcome === 'allowed' && e.revealed.length > 0) answered.add(e.accountId);
    if (answered.size === 0) return;
    const added = await this.campaigns.catchUp([...answered]);
    if (added > 0) this.logger.warn({ exposures: added }, 'answers stored after their campaign was recorded: exposures added');
  }
}
