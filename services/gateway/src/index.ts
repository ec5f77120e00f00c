export * from './config.js';
export * from './gateway.js';
export { SETTLE_MS } from './layer-step.js';
