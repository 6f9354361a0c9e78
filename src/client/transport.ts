/**
 * How the client reaches findguard. Two implementations: real HTTP through global fetch, and
 * Fastify's `inject` so the attack simulator can drive thousands of simulated users in-process
 * without sockets. Both hand back the raw body so the client owns JSON parsing and errors.
 */

export interface TransportRequest {
  method: 'POST' | 'GET';
  /** Path with leading slash, e.g. `/v1/discovery/lookup`. */
  path: string;
  headers: Record<string, string>;
  /** Serialised as JSON by the transport. */
  body?: unknown;
}

export interface TransportResponse {
  status: number;
  /** Header names in lower case. */
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface Transport {
  send(req: TransportRequest): Promise<TransportResponse>;
}

type FetchLike = (url: string, init: { method: string; headers: Record<string, string>; body?: string; signal?: AbortSignal }) => Promise<{
  status: number;
  headers: { forEach(cb: (value: string, key: string) => void): void };
  text(): Promise<string>;
}>;

export interface FetchTransportOptions {
  /** Defaults to the global fetch (Node >= 18). */
  fetch?: FetchLike;
  /** Per-request timeout; undefined waits as long as fetch does. */
  timeoutMs?: number;
}

/** Real HTTP. `baseUrl` like `https://findguard.example` or `http://127.0.0.1:8080/prefix`. */
export function fetchTransport(baseUrl: string, options: FetchTransportOptions = {}): Transport {
  const root = baseUrl.replace(/\/+$/, '');
  const doFetch: FetchLike = options.fetch ?? (globalThis.fetch as unknown as FetchLike);
  if (typeof doFetch !== 'function') throw new Error('fetchTransport needs a global fetch (Node >= 18) or options.fetch');
  return {
    async send(req) {
      const res = await doFetch(root + req.path, {
        method: req.method,
        headers: req.headers,
        ...(req.body === undefined ? {} : { body: JSON.stringify(req.body) }),
        ...(options.timeoutMs === undefined ? {} : { signal: AbortSignal.timeout(options.timeoutMs) }),
      });
      const headers: Record<string, string> = {};
      res.headers.forEach((value, key) => {
        headers[key.toLowerCase()] = value;
      });
      return { status: res.status, headers, body: await res.text() };
    },
  };
}

/**
 * The structural slice of Fastify's `inject` the client needs, so the client's public types do
 * not depend on fastify (a Fastify instance satisfies it as is).
 */
export interface Injectable {
  inject(opts: {
    method: 'POST' | 'GET';
    url: string;
    headers?: Record<string, string>;
    payload?: string;
    remoteAddress?: string;
  }): PromiseLike<{ statusCode: number; headers: Record<string, string | string[] | number | undefined>; body: string }>;
}

/**
 * In-process: no sockets, no ports, the same routing, hooks and serialisation as a real request.
 * `remoteAddress` sets the client address the server sees (the simulator's simulated users).
 */
export function injectTransport(app: Injectable, options: { remoteAddress?: string } = {}): Transport {
  return {
    async send(req) {
      const res = await app.inject({
        method: req.method,
        url: req.path,
        headers: req.headers,
        ...(options.remoteAddress ? { remoteAddress: options.remoteAddress } : {}),
        // Serialised here rather than by inject so both transports put identical bytes on the wire.
        ...(req.body === undefined ? {} : { payload: JSON.stringify(req.body) }),
      });
      const headers: Record<string, string | string[] | undefined> = {};
      for (const [k, v] of Object.entries(res.headers)) headers[k.toLowerCase()] = typeof v === 'number' ? String(v) : v;
      return { status: res.statusCode, headers, body: res.body };
    },
  };
}

/** One header's value as a string (first of repeated headers), case-insensitively. */
export function headerValue(headers: TransportResponse['headers'], name: string): string | undefined {
  const v = headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}
