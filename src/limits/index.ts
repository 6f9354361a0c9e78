/**
 * Layered anti-enumeration limits: the stores (memory, Redis + Lua), challenges and the Limiter
 * the discovery routes call, applying the compiled policy (one registry of layers, tiers, breaker
 * and challenges) that src/policy loads.
 */
export { Limiter, type LimitRequest, type LimitVerdict } from './limiter.js';
export { Challenges } from './challenges.js';
export { SimulatedProofOfWork } from './simulated-work.js';
export { LimitMetrics } from './metrics.js';
export { MemoryLimitStore } from './memory-store.js';
export { LimitStateLostError, LimitStoreError, type LimitStore, type ApplyInput, type ApplyResult, type Charge } from './store.js';
