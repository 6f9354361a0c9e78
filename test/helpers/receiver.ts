import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** What it was answered (0: never). */
  status: number;
}

export interface ReceiverAnswer {
  /** What every request gets once its path's script has run out. */
  status: number;
  contentType?: string;
  body?: string;
}

/**
 * A real local HTTP server standing in for whatever findguard posts to (the app's webhook
 * endpoint, Slack, PagerDuty): it records every request and answers each with the next status of
 * its path's script, then `answer.status`. A scripted 0 never answers (a hung endpoint).
 */
export class Receiver {
  readonly received: Received[] = [];
  readonly scripts = new Map<string, number[]>();
  private server: Server | undefined;
  port = 0;

  constructor(private readonly answer: ReceiverAnswer = { status: 200, contentType: 'text/plain', body: 'ok' }) {}

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const path = req.url ?? '/';
        const status = this.scripts.get(path)?.shift() ?? this.answer.status;
        this.received.push({ path, headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), status });
        if (status === 0) return;
        const headers = this.answer.contentType ? { 'content-type': this.answer.contentType } : {};
        res.writeHead(status, headers).end(status === this.answer.status ? (this.answer.body ?? '') : 'nope');
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  url(path: string): URL {
    return new URL(`http://127.0.0.1:${this.port}${path}`);
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
