import { AppError } from '../errors.js';
import type { ApplyInput, ApplyResult, Charge } from '../limits/store.js';
import { LimitStoreError } from '../limits/store.js';
import type { Clock } from '../util/clock.js';
import type { ExposureNotice } from './notices-content.js';
import type { ExposureNotices } from './notices.js';

/**
 * `GET /v1/me/exposures`: the caller's own notices. The account is the JWT's `sub` and nothing
 * else: no number, handle or id is read from the request, so the answer cannot be turned into an
 * oracle about anyone. A suspended or unknown caller is refused as discovery refuses it. Reads are
 * cheap but still budgeted per account and per address in the limits store (Redis when scaled out,
 * so every node shares the count); when the store is down the call fails closed like discovery.
 */

export interface OwnCaller {
  accountId: string;
  /** The canonical client address. */
  ip: string;
}

export interface OwnExposuresDeps {
  notices: Pick<ExposureNotices, 'forAccount'>;
  /** Throws 401 unauthenticated for an unknown account, 403 account_suspended for a suspended one. */
  authorize: (accountId: string) => Promise<unknown>;
  limits: { apply(input: ApplyInput): Promise<ApplyResult> };
  clock: Clock;
}

const HOUR = 3_600_000;
/** An app opens the notice screen a few times; a client polling it in a loop is refused. */
export const OWN_EXPOSURES_LIMITS = {
  account: { burst: 30, perHour: 60 },
  ip: { burst: 300, perHour: 1200 },
} as const;

export class OwnExposures {
  constructor(private readonly deps: OwnExposuresDeps) {}

  async read(caller: OwnCaller): Promise<{ notices: ExposureNotice[] }> {
    await this.deps.authorize(caller.accountId);
    const now = this.deps.clock.now();
    await this.charge(caller, now);
    return { notices: await this.deps.notices.forAccount(caller.accountId, now) };
  }

  private async charge(caller: OwnCaller, now: number): Promise<void> {
    const charge = (scope: 'account' | 'ip', key: string, l: { burst: number; perHour: number }): Charge => ({
      layer: `me-exposures-${scope}`,
      scope,
      key: `me-exposures:${scope}:${key}`,
      cost: 1,
      burst: l.burst,
      rate: l.perHour / HOUR,
      perMs: HOUR,
      shadow: false,
    });
    let result: ApplyResult;
    try {
      result = await this.deps.limits.apply({
        charges: [charge('account', caller.accountId, OWN_EXPOSURES_LIMITS.account), charge('ip', caller.ip, OWN_EXPOSURES_LIMITS.ip)],
        proof: false,
        strikeWindowMs: HOUR,
        now,
      });
    } catch (err) {
      if (err instanceof LimitStoreError) throw new AppError('unavailable', 'try again shortly', undefined, { 'retry-after': '5' });
      throw err;
    }
    if (result.outcome !== 'allowed') {
      const retryAfter = Math.max(1, Math.ceil((result.retryAfterMs ?? 1000) / 1000));
      throw new AppError('rate_limited', 'too many calls; retry later', { retryAfter, scope: result.scope ?? 'account' }, { 'retry-after': String(retryAfter) });
    }
  }
}
