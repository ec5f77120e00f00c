export * from './config.js';
export * from './relay.js';
