import js from '@eslint/js'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'bench/results/**', 'coverage/**', 'examples/embed/node_modules/**', 'examples/embed/dist/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-imports': 'off'
    }
  },
  {
    // The dashboard runs in the browser (bundled by scripts/bundle-dashboard.ts).
    files: ['dashboard/**/*.js'],
    languageOptions: {
      globals: Object.fromEntries(['window', 'document', 'location', 'EventSource', 'fetch', 'ResizeObserver', 'URL', 'console', 'setTimeout', 'clearTimeout'].map(g => [g, 'readonly']))
    }
  },
  {
    // The core stays pure (docs/ARCHITECTURE.md §1.2): no libp2p runtime, no disk, no OS.
    files: ['src/**/*.ts', 'protocols/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { group: ['**/node/**', 'libp2p', '@libp2p/*', '@chainsafe/*', 'node:*', 'fs', 'os', 'child_process', 'systeminformation'], message: 'src/ and protocols/ are pure: inject a Clock/Transport instead (docs/ARCHITECTURE.md §1.2).' }
        ]
      }],
      'no-restricted-globals': ['error', { name: 'setTimeout', message: 'use the injected Clock' }, { name: 'setInterval', message: 'use the injected Clock' }],
      'no-restricted-properties': ['error', { object: 'Date', property: 'now', message: 'use the injected Clock' }]
    }
  }
)
