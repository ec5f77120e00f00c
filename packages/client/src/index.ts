export * from './wav.js';
export * from './signal.js';
export * from './audio-source.js';
export * from './recorder.js';
export * from './peer.js';
