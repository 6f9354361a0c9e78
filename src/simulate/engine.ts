import { FindguardError } from '../client/index.js';
import type { Driver } from './driver.js';
import { EventHeap } from './heap.js';
import { Recorder, type Outcome } from './metrics.js';
import type { IpSource, World } from './world.js';

interface SimEvent {
  at: number;
  seq: number;
  run: () => Promise<void>;
}

/** What scenario parts (organic users, attackers) get to act with. */
export interface SimContext {
  readonly world: World;
  readonly driver: Driver;
  readonly recorder: Recorder;
  readonly ips: IpSource;
  now(): number;
  schedule(at: number, run: () => Promise<void>): void;
}

export interface Actor {
  plan(ctx: SimContext): Promise<void> | void;
}

export interface EngineProgress {
  simulatedAt: number;
  events: number;
  phase: 'seeding' | 'running';
  seeded?: number;
}

/**
 * A discrete-event loop on the simulated clock: events run one at a time in time order (ties by
 * insertion), each awaited before the next, so a replay is exactly repeatable.
 */
export class Engine implements SimContext {
  readonly recorder: Recorder;
  private readonly heap = new EventHeap<SimEvent>();
  private seq = 0;
  private current: number;
  events = 0;

  constructor(
    readonly world: World,
    readonly driver: Driver,
    readonly ips: IpSource,
  ) {
    this.recorder = new Recorder(world.start);
    // Simulated time, whatever clock the target runs on: a week of warm-up before the start.
    this.current = world.start - 7 * 86_400_000;
  }

  now(): number {
    return this.current;
  }

  schedule(at: number, run: () => Promise<void>): void {
    if (at > this.world.end) return;
    this.heap.push({ at: Math.max(at, this.current), seq: this.seq++, run });
  }

  async run(actors: Actor[], onProgress?: (p: EngineProgress) => void): Promise<void> {
    await this.driver.seed(this.world, (seeded) => onProgress?.({ simulatedAt: this.current, events: 0, phase: 'seeding', seeded }));
    for (const actor of actors) await actor.plan(this);
    for (let e = this.heap.pop(); e; e = this.heap.pop()) {
      this.current = e.at;
      this.driver.advanceTo(e.at);
      await e.run();
      await this.driver.settle();
      this.events++;
      if (onProgress && this.events % 500 === 0) onProgress({ simulatedAt: this.current, events: this.events, phase: 'running' });
    }
    this.current = this.world.end;
    this.driver.advanceTo(this.world.end);
  }
}

/** A call's result as the recorder sees it; anything but a findguard answer is a failure of the run. */
export async function attempt<T>(call: () => Promise<T>): Promise<{ outcome: Outcome; value?: T; retryAfter?: number }> {
  try {
    return { outcome: { ok: true }, value: await call() };
  } catch (err) {
    if (err instanceof FindguardError) {
      return {
        outcome: { ok: false, status: err.status, code: err.code, ...(err.scope ? { scope: String(err.scope) } : {}), ...ruleOf(err) },
        ...(err.retryAfter !== undefined ? { retryAfter: err.retryAfter } : {}),
      };
    }
    throw err;
  }
}

/**
 * Which real-time rule refused a call, for the harm figures: the abuse engine's denials come as
 * 429 at account scope like a spent budget, and only their message tells them apart. A
 * machine-readable rule in the error's details would be better; until the server sends one, the
 * message is read here and nowhere else.
 */
function ruleOf(err: FindguardError): { rule?: string } {
  if (err.status !== 429) return {};
  if (err.message.includes('spread over many countries')) return { rule: 'scattered-list' };
  if (err.message.includes('scan of consecutive numbers')) return { rule: 'dense-run' };
  if (err.message.includes('far more numbers than an address book')) return { rule: 'answers' };
  if (err.message.includes('far fewer numbers than an address book')) return { rule: 'below-book' };
  return {};
}
