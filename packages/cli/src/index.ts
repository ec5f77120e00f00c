export * from './studioline.js';
export * from './serve-command.js';
export * from './home.js';
export * from './command.js';
export * from './commands.js';
export * from './exit-codes.js';
export { main, usage, EXIT_CODES_HELP } from './main.js';
