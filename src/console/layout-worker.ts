/** Runs one cluster layout (layout.ts) off the serving node's event loop and posts the positions back. */
import { parentPort, workerData } from 'node:worker_threads';
import { layout, type LayoutInput } from './layout.js';

const positions = layout(workerData as LayoutInput);
parentPort!.postMessage(positions, [positions.buffer as ArrayBuffer]);
