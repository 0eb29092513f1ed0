import { MemoryBackend } from '../../src/backends/memory/index.js';
import { describeLimitStoreConformance } from '../conformance/limit-store.js';
import { describeQueueStoreConformance } from '../conformance/queue-store.js';

describeLimitStoreConformance('memory', () => new MemoryBackend());
describeQueueStoreConformance('memory', () => new MemoryBackend());
