export * from './config.js';
export * from './key-service.js';
export * from './keys-admin.js';
export { MAX_BODY_BYTES } from './admin-api.js';
export * from './secret-sync.js';
export * from './sip-extension-service.js';
export * from './sip-secret-sync.js';
