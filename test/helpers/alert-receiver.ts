import { Receiver } from './receiver.js';

export interface Received {
  path: string;
  body: Record<string, unknown>;
  raw: string;
}

/**
 * Slack's incoming webhooks and PagerDuty's Events API, played by the shared local receiver: it
 * answers 202 by default, as PagerDuty does, and hands back every body parsed as JSON.
 */
export class AlertReceiver {
  private readonly http = new Receiver({ status: 202, contentType: 'application/json', body: '{"status":"success","message":"Event processed"}' });
  /** Per path, statuses to answer first (e.g. [500] for one failure). */
  readonly scripts = this.http.scripts;

  get url(): string {
    return `http://127.0.0.1:${this.http.port}`;
  }

  /** The bodies a sink accepted (a scripted failure is not among them). */
  get received(): Received[] {
    return this.http.received.filter((r) => r.status >= 200 && r.status < 300).map((r) => {
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(r.body) as Record<string, unknown>;
      } catch {
        // recorded as it came
      }
      return { path: r.path, body, raw: r.body };
    });
  }

  start(): Promise<void> {
    return this.http.start();
  }

  at(path: string): Received[] {
    return this.received.filter((r) => r.path === path);
  }

  stop(): Promise<void> {
    return this.http.stop();
  }
}
