/**
 * Layered anti-enumeration limits: the policy (one registry of layers, tiers, breaker and
 * challenges), the stores (memory, Redis + Lua) and the Limiter the discovery routes call.
 */
export { Limiter, type LimitRequest, type LimitVerdict } from './limiter.js';
export { Challenges } from './challenges.js';
export { LimitMetrics } from './metrics.js';
export { MemoryLimitStore } from './memory-store.js';
export { LimitStoreError, type LimitStore, type ApplyInput, type ApplyResult, type Charge } from './store.js';
export { compilePolicy, loadPolicy, PolicyError, type CompiledPolicy } from './policy/compile.js';
export { BUILT_IN_POLICIES, DEFAULT_POLICY, SIGNAL_LIKE_POLICY, HAGEN_INCREMENTAL_POLICY } from './policy/builtin.js';
export type { Policy, Scope, Operation } from './policy/schema.js';
