import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Database } from '../db/schema.js';
import type { AlertCondition, CompiledAlertsPolicy } from '../policy/index.js';
import type { Clock } from '../util/clock.js';
import { timeOrderedId } from '../util/ids.js';
import type { Random } from '../util/random.js';
import type { AlertStore, NewAlert } from './store.js';
import { Poller } from '../util/poller.js';

const HOUR = 3_600_000;
const INCIDENT_SUBJECT = 'findguard/incident/';

/** An open incident's GDPR Art. 33 clock, as the incidents module exports it (openIncidentClocks). */
export interface IncidentClock {
  incidentId: string;
  title: string;
  awareAt: Date;
  status: string;
}
export type IncidentClockSource = (db: Kysely<Database>) => Promise<IncidentClock[]>;

/** The 72-hour clock's alerts: hours after awareAt, and how loud. */
export const CLOCK_MARKS = [
  { condition: 'incident.clock-48h', hours: 48, severity: 'warning' },
  { condition: 'incident.clock-66h', hours: 66, severity: 'critical' },
] as const;

/**
 * What this process alone sees, from its own Prometheus registry (the metrics the README lists):
 * the breaker as this serving node last saw it, the event consumer's lag where it leads, and the
 * events the stream lost that this worker counted.
 */
export interface LocalSignals {
  breakerTripped(): Promise<boolean | undefined>;
  engine(): Promise<{ streamLag: number; behindSeconds: number } | undefined>;
  lostTotal(): Promise<number>;
}

async function gauge(registry: Registry, name: string): Promise<number | undefined> {
  const metric = registry.getSingleMetric(name);
  if (!metric) return undefined;
  const v = await metric.get();
  return v.values[0]?.value;
}

export function registrySignals(registry: Registry): LocalSignals {
  return {
    breakerTripped: async () => {
      const v = await gauge(registry, 'findguard_breaker_tripped');
      return v === undefined ? undefined : v >= 1;
    },
    // Only the consumer holding the lease knows how far the fleet is behind; a standby's gauges are stale.
    engine: async () => {
      if ((await gauge(registry, 'findguard_events_consumer_leading')) !== 1) return undefined;
      return { streamLag: (await gauge(registry, 'findguard_events_stream_lag')) ?? 0, behindSeconds: (await gauge(registry, 'findguard_events_behind_seconds')) ?? 0 };
    },
    lostTotal: async () => (await gauge(registry, 'findguard_events_lost_total')) ?? 0,
  };
}

export interface EvaluatorDeps {
  db: Kysely<Database>;
  store: AlertStore;
  policy: () => CompiledAlertsPolicy;
  signals: LocalSignals;
  incidentClocks?: IncidentClockSource;
  clock: Clock;
  random: Random;
  logger: Logger;
}

/**
 * Evaluates every condition on the injected clock. Any number of serving nodes and workers run
 * one each: global conditions (campaigns, failing webhooks, incident clocks) read the shared
 * database and fire under a unique dedup key; level conditions switch an episode row with a
 * conditional update, so one node triggers and one resolves. A condition only this process sees
 * (the breaker on a serving node, the lag on the leading worker) is resolved only by a node that
 * saw it active in that episode, so an idle node's stale gauge never closes another's episode.
 */
export class AlertEvaluator {
  /** The episode of each level condition this process has seen active. */
  private readonly saw = new Map<AlertCondition, string>();
  private lostSeen = 0;
  // evaluate() catches each condition's failure itself, so the poller's onError never sees one.
  private readonly poller = new Poller({
    round: async () => {
      await this.evaluate();
      return false;
    },
    intervalMs: () => this.deps.policy().evaluateEveryMs,
    onError: (err) => this.deps.logger.error({ err: err instanceof Error ? err.message : String(err) }, 'alert evaluation failed'),
  });

  constructor(private readonly deps: EvaluatorDeps) {}

  /** One evaluation of every condition; the ids of the alerts this call fired. */
  async evaluate(): Promise<string[]> {
    const fired: string[] = [];
    const now = this.deps.clock.now();
    const steps: Array<[string, () => Promise<void>]> = [
      ['campaigns', () => this.campaigns(now, fired)],
      ['incident clocks', () => this.clocks(now, fired)],
      ['webhooks', () => this.webhooks(now, fired)],
      ['breaker', () => this.breaker(now, fired)],
      ['engine', () => this.engine(now, fired)],
      ['events lost', () => this.lost(now, fired)],
    ];
    for (const [name, step] of steps) {
      try {
        await step();
      } catch (err) {
        this.deps.logger.error({ err: err instanceof Error ? err.message : String(err), condition: name }, 'alert evaluation failed');
      }
    }
    return fired;
  }

  private async fire(a: NewAlert, now: number, fired: string[]): Promise<void> {
    const id = await this.deps.store.fire(a, now);
    if (id) {
      fired.push(id);
      this.deps.logger.info({ alertId: id, condition: a.condition, action: a.action, subject: a.subject }, 'alert fired');
    }
  }

  /** A new campaign: also called at once where one is opened; the sweep catches the rest. */
  async campaigns(now: number, fired: string[] = []): Promise<void> {
    const since = now - this.deps.policy().campaignLookbackMs;
    const rows = await this.deps.db.selectFrom('campaigns').select(['id', 'detected_at', 'score', 'first_seen', 'last_seen']).where('detected_at', '>=', since).orderBy('detected_at').limit(200).execute();
    if (rows.length === 0) return;
    const keys = rows.map((r) => `campaign.opened:${r.id}`);
    const done = new Set((await this.deps.store.db.selectFrom('alerts').select('dedup_key').where('dedup_key', 'in', keys).execute()).map((r) => r.dedup_key));
    for (const r of rows) {
      if (done.has(`campaign.opened:${r.id}`)) continue;
      const accounts = await this.deps.db.selectFrom('campaign_accounts').select((eb) => eb.fn.countAll<number>().as('n')).where('campaign_id', '=', r.id).executeTakeFirst();
      const exposed = await this.deps.db
        .selectFrom('exposures')
        .select((eb) => eb.fn.count<number>('revealed_account_id').distinct().as('n'))
        .where('campaign_id', '=', r.id)
        .executeTakeFirst();
      const n = Number(accounts?.n ?? 0);
      const e = Number(exposed?.n ?? 0);
      await this.fire(
        {
          condition: 'campaign.opened',
          action: 'trigger',
          dedupKey: `campaign.opened:${r.id}`,
          subject: `findguard/campaign/${r.id}`,
          severity: 'error',
          summary: `New campaign ${r.id}: ${n} attacker account(s), ${e} account(s) exposed`,
          details: { campaignId: r.id, attackerAccounts: n, exposedAccounts: e, score: Number(r.score), detectedAt: iso(Number(r.detected_at)), firstSeen: iso(Number(r.first_seen)), lastSeen: iso(Number(r.last_seen)) },
        },
        now,
        fired,
      );
    }
  }

  private async clocks(now: number, fired: string[]): Promise<void> {
    if (!this.deps.incidentClocks) return;
    const open = await this.deps.incidentClocks(this.deps.db);
    await this.clocksStopped(new Set(open.map((c) => c.incidentId)), now, fired);
    for (const c of open) {
      const aware = c.awareAt.getTime();
      const deadline = aware + 72 * HOUR;
      for (const mark of CLOCK_MARKS) {
        if (now < aware + mark.hours * HOUR) continue;
        const left = deadline - now;
        await this.fire(
          {
            condition: mark.condition,
            action: 'trigger',
            dedupKey: `${mark.condition}:${c.incidentId}`,
            subject: `${INCIDENT_SUBJECT}${c.incidentId}`,
            severity: mark.severity,
            summary: `Incident ${c.incidentId} "${c.title}": ${mark.hours} h of the GDPR 72-hour clock have passed; the regulator's report is due ${iso(deadline)} (${left > 0 ? `${Math.round(left / 60_000)} min left` : 'overdue'}), status ${c.status}`,
            details: { incidentId: c.incidentId, title: c.title, status: c.status, awareAt: iso(aware), deadline: iso(deadline), hoursPassed: mark.hours },
          },
          now,
          fired,
        );
      }
    }
  }

  /**
   * An incident whose clock alerted and that is no longer open (notified or closed) resolves its
   * PagerDuty incident, once, on the routes of either clock alert.
   */
  private async clocksStopped(open: ReadonlySet<string>, now: number, fired: string[]): Promise<void> {
    const db = this.deps.store.db;
    const alerted = await db
      .selectFrom('alerts')
      .select('subject')
      .distinct()
      .where('condition', 'in', CLOCK_MARKS.map((m) => m.condition))
      .where('action', '=', 'trigger')
      .where('created_at', '>=', now - 90 * 24 * HOUR)
      .execute();
    const stopped = alerted.map((r) => r.subject).filter((s) => !open.has(s.slice(INCIDENT_SUBJECT.length)));
    if (stopped.length === 0) return;
    const done = new Set((await db.selectFrom('alerts').select('dedup_key').where('dedup_key', 'in', stopped.map((s) => `incident.clock-stopped:${s}`)).execute()).map((r) => r.dedup_key));
    const routes = this.deps.policy().routes.filter((r) => CLOCK_MARKS.some((m) => r.on.includes(m.condition)));
    for (const subject of stopped) {
      if (done.has(`incident.clock-stopped:${subject}`)) continue;
      const incidentId = subject.slice(INCIDENT_SUBJECT.length);
      const id = await this.deps.store.fire(
        {
          condition: 'incident.clock-66h',
          action: 'resolve',
          dedupKey: `incident.clock-stopped:${subject}`,
          subject,
          severity: 'info',
          summary: `Incident ${incidentId} is notified or closed: its 72-hour clock alerts are resolved`,
          details: { incidentId },
        },
        now,
        { routes },
      );
      if (id) fired.push(id);
    }
  }

  private async webhooks(now: number, fired: string[]): Promise<void> {
    const t = this.deps.policy().webhooksFailing;
    const row = await this.deps.db
      .selectFrom('webhook_outbox')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('delivered_at', 'is', null)
      .where('attempts', '>=', t.attempts)
      .where('created_at', '>=', now - t.windowMs)
      // Outbox ids are time-ordered (util/ids.ts): the primary key bounds the scan to the window.
      .where('id', '>=', `evt_${Math.max(0, Math.floor(now - t.windowMs)).toString(16).padStart(12, '0')}`)
      .executeTakeFirst();
    const failing = Number(row?.n ?? 0);
    await this.level('webhooks.failing', failing >= t.deliveries, false, now, fired, {
      severity: 'warning',
      summary: `Webhooks failing: ${failing} delivery(ies) of the last ${Math.round(t.windowMs / HOUR)} h undelivered after ${t.attempts}+ attempts`,
      resolved: 'Webhooks are delivered again',
      details: { failing, attempts: t.attempts, threshold: t.deliveries },
    });
  }

  private async breaker(now: number, fired: string[]): Promise<void> {
    const tripped = await this.deps.signals.breakerTripped();
    if (tripped === undefined) return;
    await this.level('breaker.tripped', tripped, true, now, fired, {
      severity: 'critical',
      summary: 'The global breaker tripped: demand for new numbers is far above its baseline, and tiers are held to their tightened share',
      resolved: 'The global breaker is no longer tripped',
      details: {},
    });
  }

  private async engine(now: number, fired: string[]): Promise<void> {
    const e = await this.deps.signals.engine();
    if (!e) return;
    const t = this.deps.policy().engineBehind;
    const behind = e.streamLag >= t.streamEntries || (e.streamLag > 0 && e.behindSeconds >= t.seconds);
    await this.level('engine.behind', behind, true, now, fired, {
      severity: 'warning',
      summary: `The abuse engine is falling behind: ${e.streamLag} event(s) unread in the stream, ${Math.round(e.behindSeconds)} s behind live traffic`,
      resolved: 'The abuse engine has caught up',
      details: { streamLag: e.streamLag, behindSeconds: Math.round(e.behindSeconds), thresholdEntries: t.streamEntries, thresholdSeconds: t.seconds },
    });
  }

  private async lost(now: number, fired: string[]): Promise<void> {
    const total = await this.deps.signals.lostTotal();
    if (total <= this.lostSeen) return;
    const n = total - this.lostSeen;
    // Only the worker that read past the gap counts it, so this occurrence is this process's alone.
    const id = timeOrderedId({ prefix: 'lost', randomBytes: 8, sequenced: true }, now, this.deps.random);
    await this.fire(
      {
        condition: 'events.lost',
        action: 'trigger',
        dedupKey: `events.lost:${id}`,
        subject: `findguard/events-lost/${id}`,
        severity: 'error',
        summary: `${n} lookup event(s) lost before any worker read them (the event stream dropped them at its length cap, or Redis lost its keyspace: then each stream counts 1); exposures of that window are incomplete (the worker's log names the window)`,
        details: { lost: n, lostTotalOnThisWorker: total },
      },
      now,
      fired,
    );
    this.lostSeen = total;
  }

  private async level(
    condition: AlertCondition,
    active: boolean,
    local: boolean,
    now: number,
    fired: string[],
    text: { severity: NewAlert['severity']; summary: string; resolved: string; details: NewAlert['details'] },
  ): Promise<void> {
    const store = this.deps.store;
    const open = await store.episodeOf(condition);
    if (active) {
      if (open) {
        this.saw.set(condition, open.episode);
        return;
      }
      const episode = timeOrderedId({ prefix: 'ep', randomBytes: 6, sequenced: true }, now, this.deps.random);
      if (!(await store.openEpisode(condition, episode, now))) return;
      this.saw.set(condition, episode);
      await this.fire({ condition, action: 'trigger', dedupKey: `${condition}:${episode}:trigger`, subject: `findguard/${condition}/${episode}`, severity: text.severity, summary: text.summary, details: text.details }, now, fired);
      return;
    }
    if (!open || (local && this.saw.get(condition) !== open.episode)) return;
    this.saw.delete(condition);
    if (!(await store.closeEpisode(condition, open.episode, now))) return;
    await this.fire(
      { condition, action: 'resolve', dedupKey: `${condition}:${open.episode}:resolve`, subject: `findguard/${condition}/${open.episode}`, severity: 'info', summary: text.resolved, details: { ...text.details, since: iso(open.since) } },
      now,
      fired,
    );
  }

  /** Evaluates every `evaluateEvery` (on timers; what it decides reads the injected clock). */
  start(): void {
    this.poller.start();
  }

  /** Evaluates now (a campaign was opened in this process). */
  poke(): void {
    this.poller.poke();
  }

  stop(): Promise<void> {
    return this.poller.stop();
  }
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
