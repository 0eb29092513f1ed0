export { SqliteBackend, type SqliteBackendOptions } from './backend.js';
export { SqliteLimitStore } from './limit-store.js';
export { SqliteQueueStore } from './queue-store.js';
