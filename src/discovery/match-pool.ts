import { Worker } from 'node:worker_threads';
import type { HashKey } from '../config/config.js';
import type { ContactKind } from '../directory/hashing.js';
import { AppError } from '../errors.js';
import type { MatchReply, MatchRequest, MatchWorkerData } from './match-worker.js';
import type { AccountRef, Match } from './sqlite-matcher.js';

interface Pending {
  resolve(results: Array<Match | null>): void;
  reject(err: Error): void;
}

interface Slot {
  worker: Worker;
  busy: number;
  pending: Map<number, Pending>;
  dead: boolean;
}

/**
 * Worker threads that hash and match large batches. HMAC (~3 µs) and the index probe (~2.5 µs)
 * per number are the whole cost of a sync; on one thread they capped a process at ~75k numbers/s.
 * A batch is split across the workers; a crashed worker fails its batches and is replaced.
 */
export class MatchPool {
  private readonly slots: Slot[] = [];
  private nextId = 1;
  private closed = false;

  constructor(
    private readonly path: string,
    private readonly keys: readonly HashKey[],
    size: number,
  ) {
    for (let i = 0; i < size; i++) this.slots.push(this.spawn());
  }

  get size(): number {
    return this.slots.length;
  }

  /**
   * Each worker reads the caller with its part of the batch (sqlite-matcher.ts): a caller refused
   * there rejects the whole batch with that AppError; any other failure is a plain Error.
   */
  async match(kind: ContactKind, values: readonly string[], caller: AccountRef): Promise<Array<Match | null>> {
    const parts = Math.min(this.slots.length, Math.ceil(values.length / 128));
    const per = Math.ceil(values.length / parts);
    const order = [...this.slots].sort((a, b) => a.busy - b.busy);
    const chunks = await Promise.all(
      order.slice(0, parts).map((slot, i) => this.send(slot, kind, values.slice(i * per, (i + 1) * per), caller)),
    );
    return chunks.flat();
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }

  private send(slot: Slot, kind: ContactKind, values: string[], caller: AccountRef): Promise<Array<Match | null>> {
    const id = this.nextId++;
    slot.busy += values.length;
    // Referenced only while it has work: an idle pool must not keep a process alive, a busy one must.
    if (slot.pending.size === 0) slot.worker.ref();
    const done = () => {
      slot.busy -= values.length;
      if (slot.pending.size === 0) slot.worker.unref();
    };
    return new Promise((resolve, reject) => {
      slot.pending.set(id, {
        resolve: (r) => {
          done();
          resolve(r);
        },
        reject: (e) => {
          done();
          reject(e);
        },
      });
      const req: MatchRequest = { id, kind, values, caller: { accountId: caller.accountId, mirroredAt: caller.mirroredAt } };
      slot.worker.postMessage(req);
    });
  }

  private spawn(): Slot {
    const data: MatchWorkerData = { path: this.path, keys: this.keys.map((k) => ({ version: k.version, key: new Uint8Array(k.key) })) };
    // Under the TypeScript test runner this module is a .ts file and so is its worker, which then
    // needs tsx's loader registered inside the thread (workers do not inherit --import).
    const worker = import.meta.url.endsWith('.ts')
      ? new Worker(
          `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(new URL('./match-worker.ts', import.meta.url).href)}); });`,
          { eval: true, workerData: data },
        )
      : new Worker(new URL('./match-worker.js', import.meta.url), { workerData: data });
    const slot: Slot = { worker, busy: 0, pending: new Map(), dead: false };
    worker.on('message', (reply: MatchReply) => {
      const p = slot.pending.get(reply.id);
      if (!p) return;
      slot.pending.delete(reply.id);
      if (reply.refused) p.reject(new AppError(reply.refused.code, reply.refused.message));
      else if (reply.error || !reply.results) p.reject(new Error(reply.error ?? 'match worker failed'));
      else p.resolve(reply.results.map((r) => (r ? { accountId: r[0], handle: r[1] } : null)));
    });
    const fail = (err: Error) => {
      if (slot.dead) return;
      slot.dead = true;
      const pending = [...slot.pending.values()];
      slot.pending.clear();
      for (const p of pending) p.reject(err);
      if (this.closed) return;
      const index = this.slots.indexOf(slot);
      if (index >= 0) this.slots[index] = this.spawn();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => {
      if (!this.closed) fail(new Error(`match worker exited with ${code}`));
    });
    worker.unref();
    return slot;
  }
}
