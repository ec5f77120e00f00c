export * from './config.js';
export * from './directory.js';
export * from './sip-bridge.js';
