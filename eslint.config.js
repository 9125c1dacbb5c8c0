// Lint for src/, test/ and bench/ (STYLE rules 17, 21, 24), run by `make lint` inside `make test`.
// Type-aware rules catch the promise bugs that crashed nodes (an unawaited rejected promise exits Node);
// LAYERS below is DESIGN's import direction table, enforced so that the next upward import fails the build.
import js from '@eslint/js';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import importX from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

/**
 * LAYERS: for each folder of src/, the folders of src/ it may import from. Pure layers (raft, registry) sit at the
 * bottom; node/ is the only wiring; cli/ may import everything. A new arrow is a design decision: add it here.
 */
const LAYERS = {
  lib: [],
  gen: [],
  raft: ['lib'],
  // registry/ implements raft's StateMachine seam (a type-only arrow; both layers are pure).
  registry: ['lib', 'raft', 'gen'],
  config: ['lib', 'raft'],
  metrics: ['lib', 'raft', 'registry'],
  sweeper: ['lib', 'gen'],
  storage: ['lib', 'raft'],
  transport: ['lib', 'raft', 'gen'],
  node: ['lib', 'raft', 'config', 'transport'],
  api: ['lib', 'gen', 'config', 'node', 'registry', 'metrics', 'sweeper'],
  client: ['lib', 'gen', 'api'],
};
const SRC_FOLDERS = [...Object.keys(LAYERS), 'cli'];

const layerZones = Object.entries(LAYERS).flatMap(([layer, allowed]) =>
  SRC_FOLDERS.filter((folder) => folder !== layer && !allowed.includes(folder)).map((folder) => ({
    target: `./src/${layer}`,
    from: `./src/${folder}`,
    message: `src/${layer} may import only ${allowed.join(', ') || 'nothing'} (LAYERS in eslint.config.js)`,
  })),
);

/**
 * Outside src/: one process launcher, test/harness/process-cluster.ts, serves the tests and the benchmark. bench/
 * may import test/harness/ and nothing else of test/; test/harness/ imports nothing else of test/ (so bench/ never
 * pulls in a test); test/ never imports bench/ (the tests of bench code live in bench/, as bench/load.test.ts).
 */
const harnessZones = [
  { target: './test', from: './bench', message: 'test/ never imports bench/: a test of bench code lives in bench/' },
  {
    target: './bench',
    from: './test',
    except: ['./harness'],
    message: 'bench/ imports only test/harness/ (the one process launcher) from test/',
  },
  {
    target: './test/harness',
    from: './test',
    except: ['./harness'],
    message: 'test/harness/ stands alone: bench/ imports it, so it imports nothing else of test/',
  },
];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'src/gen/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    plugins: { 'import-x': importX },
    settings: { 'import-x/resolver-next': [createTypeScriptImportResolver({ project: './tsconfig.json' })] },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'import-x/no-cycle': 'error',
      'import-x/no-duplicates': 'error',
      'import-x/no-restricted-paths': ['error', { zones: [...layerZones, ...harnessZones] }],
      'max-lines-per-function': ['error', { max: 70, skipBlankLines: true, skipComments: true }],
    },
  },
  {
    // Test and bench files are scripts of cases: a describe() block holds many tests, so the limit applies to the
    // functions inside it, not to the block.
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: { 'max-lines-per-function': ['error', { max: 70, skipBlankLines: true, skipComments: true, IIFEs: false }] },
  },
  {
    // What ships never depends on the tests or the benchmark.
    files: ['src/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: ['**/test/**', '**/bench/**'] }] },
  },
);
