/**
 * The Redis side of RedisLimitStore.apply: applyCharges + rollBreaker (apply.ts) ported line by
 * line to Lua, so one EVALSHA checks and charges every layer atomically. Kept as a TypeScript
 * string so `tsc` alone builds it (no asset copying). Any change to apply.ts must be mirrored
 * here; redis-store.test.ts runs both on the same random inputs.
 *
 * Numbers cross the boundary as text: ARGV holds JavaScript's shortest round-trip form, and
 * state and replies are written with %.17g, because Lua's own number-to-string (%.14g) would
 * round tokens and baselines and let the two stores drift apart.
 *
 * One known, harmless difference: `^` uses the C library's pow while V8's `**` has its own, and
 * they can disagree in the last bit. That only reaches the breaker's decayed baseline, where a
 * decision would need an exact tie at 1e-16 to differ.
 *
 * KEYS: the n bucket keys, then the breaker key (if any), then the strike key (if any), then the
 *       epoch key (if ARGV[2] is given).
 * ARGV: one string, the following joined by newlines (unpacked into A): now, proof, strikeWindowMs, n, hasBreaker, hasStrike,
 *       strikesMin, strikesMax ('' = none),
 *       breaker: demand, windowMs, alpha, initialBaseline, ratio, minimum, holdMs, share, shadow,
 *       then per charge (CHARGE_ARGS each): cost, burst, rate, perMs, shadow, challengeBelow ('' = none), scope,
 *       keep.burst, keep.rate (the charge's own burst and rate when it has no keep).
 * ARGV[2] (optional): the epoch the node expects; without it in Redis the reply is { 'lost' }.
 * Reply: outcome, layer ('' | 'breaker' | 0-based charge index), scope, retryAfterMs, tripped,
 *        breakerShadowRefused, strikes, then one 'A'|'R'|'S'|'U' + '0'|'1' (nearLimit) per charge
 *        (none for 'stale-strikes').
 */

export const HEADER_ARGS = 8;
export const BREAKER_ARGS = 9;
export const CHARGE_ARGS = 9;

export const APPLY_SCRIPT = `
local EPSILON = 1e-9
local NEAR_LIMIT = 0.2
local DAY = 86400000
-- PEXPIRE rejects non-integers and overflowing times; ~31,000 years is forever here.
local MAX_TTL = 1e15
local HEADER, BREAKER, CHARGE = ${HEADER_ARGS}, ${BREAKER_ARGS}, ${CHARGE_ARGS}

local function fmt(x) return string.format('%.17g', x) end
local function ttlArg(ms)
  ms = math.ceil(ms)
  if not (ms < MAX_TTL) then ms = MAX_TTL end
  -- Memory entries with ttl <= 0 are dead at once; PEXPIRE 0 deletes, which is the same.
  if not (ms > 0) then ms = 0 end
  return string.format('%.0f', ms)
end

local function rollBreaker(prev, b, now)
  local windowStart = math.floor(now / b.windowMs) * b.windowMs
  local ws, count, base, untl = windowStart, 0, b.initialBaseline, 0
  if prev then ws, count, base, untl = prev.ws, prev.count, prev.base, prev.untl end
  if now >= ws + b.windowMs then
    if untl <= ws then base = base + b.alpha * (count - base) end
    local skipped = math.floor((now - ws) / b.windowMs) - 1
    if skipped > 0 and untl <= ws + b.windowMs then base = base * (1 - b.alpha) ^ math.min(skipped, 10000) end
    ws = windowStart
    count = 0
  end
  count = count + b.demand
  if count > math.max(b.minimum, b.ratio * base) then untl = math.max(untl, now + b.holdMs) end
  return { ws = ws, count = count, base = base, untl = untl }
end

-- The arguments come as one string, joined by newlines (none of them holds one): ioredis encodes
-- each argument of a command separately, and ~70 of them cost the caller more CPU than the script
-- costs Redis. A is ARGV as it was before, so the rest reads the same.
local A = {}
do
  local s, i = ARGV[1], 1
  while true do
    local j = string.find(s, '\\n', i, true)
    if not j then
      A[#A + 1] = string.sub(s, i)
      break
    end
    A[#A + 1] = string.sub(s, i, j - 1)
    i = j + 1
  end
end

-- The deployment's epoch (redis-epoch.ts), the last key, when the node passes one: a Redis that
-- lost its keyspace would read every bucket as full, so nothing is read or charged.
if ARGV[2] and redis.call('GET', KEYS[#KEYS]) ~= ARGV[2] then return { 'lost' } end

local now = tonumber(A[1])
local proof = A[2] == '1'
local strikeWindowMs = tonumber(A[3])
local n = tonumber(A[4])
local hasBreaker = A[5] == '1'
local strikeKey = nil
if A[6] == '1' then strikeKey = KEYS[n + (hasBreaker and 2 or 1)] end
local strikesMin, strikesMax = tonumber(A[7]), tonumber(A[8])

-- First, before any bucket: the tier that sized the charges was chosen for these strike counts
-- (apply.ts says why).
local strikes = 0
if strikeKey then strikes = tonumber(redis.call('GET', strikeKey)) or 0 end
if strikeKey and strikesMin and (strikes < strikesMin or (strikesMax and strikes > strikesMax)) then
  return { 'stale-strikes', '', '', '', '0', '0', fmt(strikes) }
end

-- Every read happens before any write, so a failing read leaves nothing half-charged.
local breakerWrite = nil
local tripped, share, breakerShadowRefused, breakerUntil = false, 1, false, 0
if hasBreaker then
  local a = HEADER
  local b = {
    demand = tonumber(A[a + 1]), windowMs = tonumber(A[a + 2]), alpha = tonumber(A[a + 3]),
    initialBaseline = tonumber(A[a + 4]), ratio = tonumber(A[a + 5]), minimum = tonumber(A[a + 6]),
    holdMs = tonumber(A[a + 7]), share = tonumber(A[a + 8]), shadow = A[a + 9] == '1',
  }
  local key = KEYS[n + 1]
  local raw = redis.call('HMGET', key, 'ws', 'count', 'base', 'until')
  local prev = nil
  if raw[1] then prev = { ws = tonumber(raw[1]), count = tonumber(raw[2]), base = tonumber(raw[3]), untl = tonumber(raw[4]) } end
  local state = rollBreaker(prev, b, now)
  breakerWrite = { key = key, state = state, ttl = math.max(b.windowMs * 4, state.untl - now) + DAY }
  tripped = state.untl > now
  breakerUntil = state.untl
  if tripped and b.share < 1 then
    if b.shadow then breakerShadowRefused = b.share == 0
    else share = b.share end
  end
end

local layers = {}
local nexts = {}
local refused, challenge = nil, nil

if share == 0 then refused = { layer = 'breaker', scope = 'global', retry = breakerUntil - now } end
for i = 1, n do
  local a = HEADER + BREAKER + (i - 1) * CHARGE
  local cost, burst, rate, perMs = tonumber(A[a + 1]), tonumber(A[a + 2]), tonumber(A[a + 3]), tonumber(A[a + 4])
  local shadow = A[a + 5] == '1'
  local challengeBelow = tonumber(A[a + 6])
  local scope = A[a + 7]
  local keepBurst, keepRate = tonumber(A[a + 8]), tonumber(A[a + 9])
  local raw = redis.call('HMGET', KEYS[i], 'tokens', 'ts')
  local tokens, ts = burst, now
  if raw[1] then
    local stored = tonumber(raw[2])
    -- Never back in time (apply.ts says why): the node's own clock is now.
    if stored > now then ts = stored end
    tokens = math.min(burst, tonumber(raw[1]) + math.max(0, now - stored) * rate)
  end
  local left = tokens - cost
  if left + EPSILON < 0 then
    if shadow then layers[i] = 'S0' else
      layers[i] = 'R0'
      local retry = perMs
      if rate > 0 and cost <= burst then retry = (cost - tokens) / rate + (ts - now) end
      if not refused or retry > refused.retry then refused = { layer = tostring(i - 1), scope = scope, retry = retry } end
    end
  elseif (not shadow) and left + EPSILON < burst * (1 - share) then
    layers[i] = 'U0'
    local retry = breakerUntil - now
    if not refused or retry > refused.retry then refused = { layer = 'breaker', scope = 'global', retry = retry } end
  else
    if left < burst * NEAR_LIMIT then layers[i] = 'A1' else layers[i] = 'A0' end
    nexts[i] = { tokens = left, ts = ts, keepBurst = keepBurst, keepRate = keepRate }
    if not shadow and not challenge and challengeBelow ~= nil and left < burst * challengeBelow then
      challenge = { layer = tostring(i - 1), scope = scope }
    end
  end
end

local outcome
local strikeWrite = false
if refused then
  outcome = 'refused'
  if strikeKey and (refused.scope == 'account' or refused.scope == 'device') then
    strikes = strikes + 1
    strikeWrite = true
  end
elseif challenge and not proof then
  outcome = 'challenge'
else
  outcome = 'allowed'
  for i = 1, n do
    local nx = nexts[i]
    if nx then
      -- Until full at every tier of the layer, not only this call's (apply.ts says why).
      local ttl = 365 * DAY
      if nx.keepRate > 0 then ttl = math.ceil((nx.keepBurst - nx.tokens) / nx.keepRate + (nx.ts - now)) + 1000 end
      redis.call('HSET', KEYS[i], 'tokens', fmt(nx.tokens), 'ts', fmt(nx.ts))
      redis.call('PEXPIRE', KEYS[i], ttlArg(ttl))
    end
  end
end

if breakerWrite then
  local s = breakerWrite.state
  redis.call('HSET', breakerWrite.key, 'ws', fmt(s.ws), 'count', fmt(s.count), 'base', fmt(s.base), 'until', fmt(s.untl))
  redis.call('PEXPIRE', breakerWrite.key, ttlArg(breakerWrite.ttl))
end
if strikeWrite then
  redis.call('INCR', strikeKey)
  redis.call('PEXPIRE', strikeKey, ttlArg(strikeWindowMs))
end

local layer, scope, retry = '', '', ''
if refused then
  layer, scope, retry = refused.layer, refused.scope, fmt(math.max(1000, math.ceil(refused.retry)))
elseif outcome == 'challenge' then
  layer, scope = challenge.layer, challenge.scope
end
local reply = { outcome, layer, scope, retry, tripped and '1' or '0', breakerShadowRefused and '1' or '0', fmt(strikes) }
for i = 1, n do reply[#reply + 1] = layers[i] end
return reply
`;

/**
 * A used proof-of-work mark (SET NX PX) under the same epoch check. KEYS: the mark, then the epoch
 * key (if ARGV[2] is given). ARGV: ttl in ms, the epoch. Reply: 'OK' when set, '' when already
 * used, 'lost' without the epoch.
 */
export const USE_ONCE_SCRIPT = `
if ARGV[2] and redis.call('GET', KEYS[2]) ~= ARGV[2] then return 'lost' end
if redis.call('SET', KEYS[1], '1', 'PX', ARGV[1], 'NX') then return 'OK' end
return ''
`;
