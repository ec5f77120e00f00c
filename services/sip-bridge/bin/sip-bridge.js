#!/usr/bin/env node
// The SIP bridge process (services/sip-bridge): configuration from the environment (README, "SIP bridge").
const { main } = require('../dist/src/main.js');
main(process.env).catch((err) => {
  process.stderr.write(`studioline-sip-bridge: ${err.message}\n`);
  process.exitCode = err.code === 'bad_config' || err.code === 'listen_failed' ? 2 : 1;
});
