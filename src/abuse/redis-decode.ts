import type { Logger } from 'pino';
import { decodeEvent, type LookupEvent } from './events.js';
import type { EventMetrics } from './metrics.js';
import { fieldOf, type Entry } from './redis-stream.js';
import { isSignupEvent, type SignupEvent } from './signup.js';

/** A run of lookup events with their own JSON (stored without encoding again), or one sign-up. */
export type Segment = { events: LookupEvent[]; encoded: string } | { signup: SignupEvent };

/**
 * Stream entries in stream order: runs of lookup events, split by sign-ups. Entries that are
 * neither are counted and logged, never retried: the caller acknowledges them with the rest.
 */
export function decodeEntries(entries: Entry[], metrics: EventMetrics, logger: Logger, consumer: string): Segment[] {
  const segments: Segment[] = [];
  let events: LookupEvent[] = [];
  let encoded: string[] = [];
  let invalid = 0;
  const close = (): void => {
    if (events.length > 0) segments.push({ events, encoded: `[${encoded.join(',')}]` });
    events = [];
    encoded = [];
  };
  for (const [, fields] of entries) {
    const e = fieldOf(fields, 'e');
    const event = e === undefined ? undefined : decodeEvent(e);
    if (event) {
      events.push(event);
      encoded.push(e!);
      continue;
    }
    const signup = decodeSignup(fieldOf(fields, 's'));
    if (!signup) {
      invalid++;
      continue;
    }
    close();
    segments.push({ signup });
  }
  close();
  if (invalid > 0) {
    metrics.invalid(invalid);
    logger.warn({ consumer, invalid }, 'skipped stream entries that are not valid lookup or sign-up events');
  }
  return segments;
}

function decodeSignup(text: string | undefined): SignupEvent | undefined {
  if (text === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return isSignupEvent(value) ? value : undefined;
  } catch {
    return undefined;
  }
}
