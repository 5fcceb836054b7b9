import {includeIgnoreFile} from '@eslint/compat'
import oclif from 'eslint-config-oclif'
import prettier from 'eslint-config-prettier'
import {fileURLToPath} from 'node:url'

const gitignore = fileURLToPath(new URL('.gitignore', import.meta.url))

export default [
  includeIgnoreFile(gitignore),
  ...oclif,
  prettier,
  {
    // A disable comment that no longer disables anything fails the lint (and --fix removes it).
    linterOptions: {reportUnusedDisableDirectives: 'error'},
    rules: {
      // The DC/OS backup API's JSON members are snake_case (dcos_version, backup_info): they are its wire names.
      camelcase: ['error', {ignoreDestructuring: true, properties: 'never'}],
      // Long protocol decoders and engine steps read best as one switch or sequence.
      complexity: 'off',
      // Sequential awaits are the design: ZooKeeper writes in order, bounded concurrency, polling.
      'no-await-in-loop': 'off',
      // ZooKeeper's wire and file formats are binary: masks, shifts and flags everywhere.
      'no-bitwise': 'off',
      // Matching control characters is the point of the escaping code (printable.ts, uri.ts, sasl.ts).
      'no-control-regex': 'off',
      // ESLint's default: `(chunk) => (text += chunk)` is deliberate once parenthesised.
      'no-return-assign': ['error', 'except-parens'],
      // The executor's returned timer is ignored by Promise: `(resolve) => setTimeout(resolve, ms)` is the idiom here.
      'no-promise-executor-return': 'off',
      // `void promise` marks a fire-and-forget call (fastify's reply.send, register).
      'no-void': ['error', {allowAsStatement: true}],
      // Upper-case factories (Fastify(), MULTI_END(), the tests' SNAP()/LOG() builders) are called without new.
      'new-cap': ['error', {capIsNew: false, newIsCap: true}],
      // A variable a callback reads before its one assignment cannot be const.
      'prefer-const': ['error', {destructuring: 'all', ignoreReadBeforeAssign: true}],
      // Engine steps take the run's parts as positional arguments.
      'max-params': 'off',
      // Generators are documented in prose: what they yield is in the sentence.
      'jsdoc/require-yields': 'off',
      // Helpers stay beside their one caller.
      'unicorn/consistent-function-scoping': 'off',
      // Chalk instances come from its named Chalk class (a colour level per stream), not its default export.
      'unicorn/import-style': ['error', {styles: {chalk: false, 'node:path': {named: true}}}],
      // Indexes walk UTF-16 units and tar header bytes on purpose; a code point would skip half a pair.
      'unicorn/prefer-code-point': 'off',
      // Only where both branches are one line: two multi-line waits read better as if/else.
      'unicorn/prefer-ternary': ['error', 'only-single-line'],
      // Decoders keep their cases in the wire format's groups (setData with reconfig).
      'perfectionist/sort-switch-case': 'off',
      // Key order is output order: JSON.stringify writes records, stats (the record encoder expects
      // STAT_ORDER), backup.json and --json in the order built; a Map's or Set's order is its iteration order.
      'perfectionist/sort-maps': 'off',
      'perfectionist/sort-objects': 'off',
      'perfectionist/sort-sets': 'off',
      // Its fix drops the undefined that TypeScript needs (resolve(undefined), () => undefined, f(x, undefined)).
      'unicorn/no-useless-undefined': 'off',
      // Its fix turns a type guard (filter((s): s is string => Boolean(s))) into filter(Boolean), which narrows nothing.
      'unicorn/prefer-native-coercion-functions': 'off',
      // DOM rules: there is no DOM here, and their fixes rename the tree's own methods (appendChild became append).
      'unicorn/prefer-dom-node-append': 'off',
      'unicorn/prefer-dom-node-remove': 'off',
      // Features in every Node 20.x (fs.cp, readline/promises, fetch) that the plugin still calls experimental.
      'n/no-unsupported-features/node-builtins': ['error', {allowExperimental: true}],
      // `const {omitted: _, ...rest} = x` and `for await (const _ of ...)` name what is dropped.
      '@typescript-eslint/no-unused-vars': [
        'error',
        {argsIgnorePattern: '^_', ignoreRestSiblings: true, varsIgnorePattern: '^_'},
      ],
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      // A test file holds one suite per server version or fixture when they share helpers.
      'mocha/max-top-level-suites': 'off',
      // describe, it, then a session's or a server's callbacks: tests nest by nature.
      'max-nested-callbacks': 'off',
    },
  },
  {
    files: ['bin/**'],
    rules: {
      // npm packs "/bin" (npm pack --dry-run lists it); eslint-plugin-n misreads the leading slash.
      'n/no-unpublished-bin': 'off',
      // bin/ loads the build, which a clean clone lacks until npm run build (lint runs first in npm test).
      'import/no-unresolved': ['error', {ignore: [String.raw`^\.\./dist/`]}],
    },
  },
]
