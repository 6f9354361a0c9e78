/**
 * The policy file, whole: its schema (tiers, layers, breaker, challenges and the abuse engine's
 * section), the built-in policies, and loading, validating and compiling it once at start.
 * limits/ and abuse/ both read their part of it from here, so neither imports the other; this is
 * the module's one entry point.
 */
export { compilePolicy, loadPolicy, PolicyError } from './compile.js';
export type { BreakerParams, BucketKeep, CompiledBreaker, CompiledLayer, CompiledLimit, CompiledPolicy, CompiledTier, TrustFacts } from './compile.js';
export { BUILT_IN_POLICIES, DEFAULT_POLICY, HAGEN_INCREMENTAL_POLICY, NO_LIMITS_POLICY, SIGNAL_LIKE_POLICY } from './builtin.js';
export { NETWORKS, OPERATIONS, SCOPES, SUBJECTS, scopeOf } from './schema.js';
export type { Breaker, ChallengePolicy, Layer, Limit, Network, Operation, Policy, Scope, Subject, Tier, TierCondition } from './schema.js';
export { abusePolicyErrors, compileAbusePolicy, DEFAULT_ABUSE_POLICY } from './abuse.js';
export type { AbusePolicy, AnswersPolicy, BelowBookPolicy, CompiledAbusePolicy, RealtimePolicy } from './abuse.js';
export { DURATION_PATTERN, durationMs } from './duration.js';
export { ALERT_CONDITIONS, compileAlertsPolicy, loadAlertsPolicy, PAGERDUTY_SEVERITIES } from './alerts.js';
export type { AlertCondition, AlertRoute, AlertsPolicy, CompiledAlertsPolicy, PagerDutySeverity } from './alerts.js';
