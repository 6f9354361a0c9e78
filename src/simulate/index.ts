/** The attack simulator: replays enumeration incidents against a findguard and measures what leaks. */
export { InProcessDriver, REMOTE_POLICY, type Driver } from './driver.js';
export { RemoteDriver } from './remote-driver.js';
export { ScaledOutDriver, type ScaledOutOptions } from './scaled-driver.js';
export { ipSourceFrom } from './ip-source.js';
export { loadPolicies, resultFileName } from './policies.js';
export { loadScenario, runScenario, type AttackerResult, type SimulationResult, type TimingReport } from './run.js';
export { ScenarioSpec, type AttackerSpec } from './scenario.js';
export { BUILT_IN_SCENARIOS, DEFAULT_ORGANIC } from './scenarios.js';
export { World, type IpSource } from './world.js';
