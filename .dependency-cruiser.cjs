// findguard's layering, checked by `npm run lint:deps` (and in .ci/run). The rules are written out
// in README.md, "Layout". Only src/ is checked: tests (src/**/*.test.ts, test/) and bench/ may
// import anything.

/** Modules of the domain and the use cases built on it (console): they never import the HTTP adapters or the CLI. */
const DOMAIN = '^src/(directory|discovery|limits|abuse|incidents|operators|console|policy|net|population|db|util|config|protocol)/';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'No module may reach itself through its imports (type-only imports included).',
      from: {},
      to: { circular: true },
    },
    {
      name: 'cli-is-the-top',
      severity: 'error',
      comment: 'Nothing outside src/cli imports src/cli.',
      from: { pathNot: '^src/cli/' },
      to: { path: '^src/cli/' },
    },
    {
      name: 'simulate-only-from-cli',
      severity: 'error',
      comment: 'The simulator is reached only through the CLI (its entry point) and its own files.',
      from: { pathNot: '^src/(cli|simulate)/' },
      to: { path: '^src/simulate/' },
    },
    {
      name: 'protocol-is-a-leaf',
      severity: 'error',
      comment: 'src/protocol (shared by client and server) imports nothing of findguard.',
      from: { path: '^src/protocol/' },
      to: { path: '^src/', pathNot: '^src/protocol/' },
    },
    {
      name: 'client-stands-alone',
      severity: 'error',
      comment: 'The client SDK imports only itself and src/protocol.',
      from: { path: '^src/client/' },
      to: { path: '^src/', pathNot: '^src/(client|protocol)/' },
    },
    {
      name: 'server-not-client',
      severity: 'error',
      comment: 'The server never imports the client SDK; only the simulator, a client of the server, does.',
      from: { path: '^src/', pathNot: '^src/(client|simulate)/' },
      to: { path: '^src/client/' },
    },
    {
      name: 'limits-not-abuse',
      severity: 'error',
      comment: 'limits/ and abuse/ share only policy/; neither imports the other.',
      from: { path: '^src/limits/' },
      to: { path: '^src/abuse/' },
    },
    {
      name: 'abuse-not-limits',
      severity: 'error',
      comment: 'limits/ and abuse/ share only policy/; neither imports the other.',
      from: { path: '^src/abuse/' },
      to: { path: '^src/limits/' },
    },
    {
      name: 'policy-one-entry',
      severity: 'error',
      comment: 'The policy module is entered through src/policy/index.ts only.',
      from: { pathNot: '^src/policy/' },
      to: { path: '^src/policy/', pathNot: '^src/policy/index\\.ts$' },
    },
    {
      name: 'domain-not-adapters',
      severity: 'error',
      comment: 'Domain modules never import the HTTP adapters (src/http) or the CLI (src/cli).',
      from: { path: DOMAIN },
      to: { path: '^src/(http|cli)/' },
    },
    {
      name: 'no-unresolvable',
      severity: 'error',
      comment: 'Every import resolves (an unresolved import would escape the rules above).',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '\\.test\\.ts$' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
    skipAnalysisNotInRules: true,
  },
};
