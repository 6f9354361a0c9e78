/**
 * A background round repeated on a timer, which can be woken early when work is known to wait
 * (a row was just committed). Rounds never overlap: a wake-up during a round runs the next one
 * at once. Hand-written because it is a dozen lines of timer state that the webhook outbox, the
 * alert outbox and the alert evaluator share; a job-queue library would bring a broker with it.
 * The timers are real (they pace the process); what a round decides reads the injected clock.
 */
export interface PollerOptions {
  /** One round; resolves true when more work is waiting (a full batch), to go again at once. */
  round: () => Promise<boolean>;
  /** Wait between rounds when nothing is waiting; read before each wait, so a policy reload applies. */
  intervalMs: () => number;
  /** A round that threw: logged by the owner, and polling goes on. */
  onError: (err: unknown) => void;
}

export class Poller {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = true;
  private again = false;

  constructor(private readonly opts: PollerOptions) {}

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule(0);
  }

  /** Work was just queued: run a round now rather than at the next interval. */
  poke(): void {
    if (this.stopped) return;
    if (this.running) this.again = true;
    else this.schedule(0);
  }

  /** Stops polling and waits for the round in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.running = this.loop().finally(() => {
        this.running = undefined;
      });
    }, ms);
    this.timer.unref();
  }

  private async loop(): Promise<void> {
    let busy = false;
    try {
      busy = await this.opts.round();
    } catch (err) {
      this.opts.onError(err);
    }
    const soon = this.again || busy;
    this.again = false;
    if (!this.stopped) this.schedule(soon ? 0 : this.opts.intervalMs());
  }
}
