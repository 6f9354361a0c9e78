/**
 * The what-if's engine replay off the serving node's event loop (what-if-engine.ts): pages of
 * events arrive as messages, each acknowledged once replayed (so the reader never runs ahead of
 * the engine by more than a page), and `end` answers with the outcome.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { LookupEvent } from '../abuse/events.js';
import { EngineReplay, type ReplayInit } from './what-if-replay.js';

type Message = { type: 'events'; events: LookupEvent[] } | { type: 'end'; to: number };

const replay = new EngineReplay(workerData as ReplayInit);
const port = parentPort!;
let queue = Promise.resolve();
port.on('message', (m: Message) => {
  queue = queue.then(async () => {
    if (m.type === 'events') {
      await replay.push(m.events);
      port.postMessage({ type: 'ack' });
    } else {
      port.postMessage({ type: 'done', outcome: await replay.finish(m.to) });
    }
  });
  queue.catch((err: unknown) => port.postMessage({ type: 'error', message: err instanceof Error ? err.message : String(err) }));
});
