/** Jest global teardown: stops the emulators started by test/global-setup.js. */
const { stopChild } = require('./global-setup');

module.exports = async function globalTeardown() {
  const running = globalThis.__EMULATORS__;
  if (!running) return;
  globalThis.__EMULATORS__ = undefined;
  await stopChild(running.child);
};
