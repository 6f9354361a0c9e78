import cliProgress from 'cli-progress';
import type { CliIo } from './io.js';

export interface Progress {
  update(value: number, payload?: Record<string, string | number>): void;
  stop(): void;
}

/** A bar on a terminal; on a pipe or in CI, a line now and then so logs stay readable. */
export function progressBar(io: CliIo, total: number, format: string, unit: string): Progress {
  if (io.interactive) {
    const bar = new cliProgress.SingleBar(
      { format, hideCursor: true, etaBuffer: 50, stream: process.stderr },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0);
    return { update: (v, p) => bar.update(v, p), stop: () => bar.stop() };
  }
  let lastPct = -10;
  return {
    update: (v) => {
      const pct = total > 0 ? Math.floor((v / total) * 100) : 100;
      if (pct >= lastPct + 10) {
        lastPct = pct - (pct % 10);
        io.err(`${pct}% (${v.toLocaleString('en-US')} ${unit})`);
      }
    },
    stop: () => undefined,
  };
}
