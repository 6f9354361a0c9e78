import { AbuseEngine, noopEnforcer, type ActionKind } from '../abuse/engine.js';
import type { LookupEvent } from '../abuse/events.js';
import type { SignupEvent } from '../abuse/signup.js';
import type { AbusePolicy } from '../policy/index.js';

/**
 * The engine half of the what-if, free of I/O so it runs the same inline or in a worker thread
 * (what-if-worker.ts): a fresh engine with the no-op enforcer, fed events in time order with the
 * sign-ups before them, evaluated by event time every `every` ms; what it would have done is only
 * remembered (each account's strongest verdict), never carried out.
 */

export interface ReplayInit {
  abuse: AbusePolicy;
  every: number;
  signups: SignupEvent[];
}

export interface ReplayOutcome {
  /** Each account's strongest verdict. */
  strongest: Array<[string, ActionKind]>;
  /** Every account the replay saw call. */
  seen: string[];
  clusters: number;
  evaluations: number;
  signups: number;
  shadow: boolean;
}

const LEVEL: Record<ActionKind, number> = { throttle: 1, challenge: 2, 'suspend-account': 3, 'suspend-cluster': 3 };

export class EngineReplay {
  private readonly engine: AbuseEngine;
  private readonly strongest = new Map<string, ActionKind>();
  private readonly seen = new Set<string>();
  private clusters = 0;
  private evaluations = 0;
  private next = 0;
  private last = Number.NEGATIVE_INFINITY;

  constructor(private readonly init: ReplayInit) {
    this.engine = new AbuseEngine({ policy: init.abuse, enforcer: noopEnforcer });
  }

  /** One page of events, oldest first. */
  async push(events: readonly LookupEvent[]): Promise<void> {
    const signups = this.init.signups;
    for (const e of events) {
      while (this.next < signups.length && signups[this.next]!.at <= e.at) this.engine.signup(signups[this.next++]!);
      this.engine.observe(e);
      this.seen.add(e.accountId);
      // By event time, as the live engine (AbuseService.handle) evaluates.
      if (e.at - this.last >= this.init.every) {
        this.last = e.at;
        await this.evaluate(e.at);
      }
    }
  }

  /** The window's last minutes judged too; what it would have done. */
  async finish(to: number): Promise<ReplayOutcome> {
    if (this.last > Number.NEGATIVE_INFINITY) await this.evaluate(Math.min(to, this.last + this.init.every));
    return { strongest: [...this.strongest], seen: [...this.seen], clusters: this.clusters, evaluations: this.evaluations, signups: this.next, shadow: this.engine.policy.shadow };
  }

  private async evaluate(now: number): Promise<void> {
    this.evaluations++;
    for (const d of await this.engine.evaluate(now)) {
      if (d.action === 'suspend-cluster') this.clusters++;
      for (const id of d.accountIds) {
        const had = this.strongest.get(id);
        if (!had || LEVEL[d.action] > LEVEL[had]) this.strongest.set(id, d.action);
      }
    }
  }
}
