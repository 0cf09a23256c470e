/** Browser end-to-end tests: Debian's Chromium driven by playwright-core, against the local host and the emulators. */
const base = require('./jest.config.js');

module.exports = {
  ...base,
  testMatch: ['**/test/e2e/**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/'],
  testTimeout: 120000,
  maxWorkers: 1,
};
