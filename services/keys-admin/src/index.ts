export * from './config.js';
export * from './key-service.js';
export * from './keys-admin.js';
export * from './secret-sync.js';
