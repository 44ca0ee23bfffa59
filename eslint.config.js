import js from '@eslint/js'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', 'action/dist/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', URL: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', fetch: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', AbortController: 'readonly', TextEncoder: 'readonly', TextDecoder: 'readonly' },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-control-regex': 'off',
    },
  },
  {
    // issue 14: one network client. Every HTTP(S) request goes through src/net/ (proxies, trust,
    // timeouts, redirects, caps, redaction); tests and scripts may use node's modules directly.
    files: ['src/**/*.ts'],
    ignores: ['src/net/**'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: ['node:http', 'node:https', 'node:tls', 'http', 'https', 'tls'].map((name) => ({
          name,
          message: 'HTTP(S) and TLS go through src/net/ (one network client: proxies, trust, timeouts, caps, redaction).',
          allowTypeImports: true,
        })),
      }],
      'no-restricted-globals': ['error', { name: 'fetch', message: 'HTTP(S) goes through src/net/ (one network client).' }],
    },
  },
)
