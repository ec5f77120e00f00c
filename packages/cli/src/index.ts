export * from './studioline.js';
export * from './serve-command.js';
export * from './home.js';
