import { describe, expect, it } from 'vitest';
import { MemoryBackend, type MemoryQueueStore } from '../../src/backends/memory/index.js';
import { InvalidArgumentError } from '../../src/core/errors.js';

describe('MemoryQueueStore bounded records', () => {
  it('keeps at most maxFinishedRecords finished records, oldest first out; live ones are never dropped', async () => {
    // The backend hands the bound to its queues (memory answers synchronously).
    const queue = new MemoryBackend({ maxFinishedRecords: 3 }).queue<number>() as MemoryQueueStore<number>;
    queue.add([{ priority: 'normal', lane: '', scopes: [], messages: [{ id: 'live', payload: 0 }] }], 1);
    for (let i = 0; i < 5; i++) queue.record([`d${i}`], 'dropped', 'optional', 10 + i);
    const [job] = queue.add(
      [{ priority: 'normal', lane: '', scopes: [], messages: [{ id: 'sent', payload: 1 }] }],
      20,
      {
        owner: 'w',
        until: 100,
      },
    );
    queue.complete([{ jobId: job!.id, owner: 'w' }], 21);
    expect(queue.getRecord('d0')).toBeUndefined();
    expect(queue.getRecord('d1')).toBeUndefined();
    expect(queue.getRecord('d2')).toBeUndefined();
    expect(queue.getRecord('d3')?.status).toBe('dropped');
    expect(queue.getRecord('d4')?.status).toBe('dropped');
    expect(queue.getRecord('sent')?.deliveredAt).toBe(21);
    expect(queue.getRecord('live')?.status).toBe('enqueued');
  });

  it('refuses a bad bound', () => {
    expect(() => new MemoryBackend({ maxFinishedRecords: -1 })).toThrow(InvalidArgumentError);
  });
});
