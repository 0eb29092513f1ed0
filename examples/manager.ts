import { RateLimitManager, SqliteBackend } from 'ratekeeper';

interface Chat {
  chatId: number;
  text: string;
}
// Your sender; here a stand-in for a Telegram client that prints what it would send.
const telegram = {
  async send(batch: Array<{ id: string; payload: Chat }>): Promise<void> {
    for (const { id, payload } of batch) console.log(`-> chat ${payload.chatId}: ${payload.text} (${id})`);
  },
};

const backend = new SqliteBackend({ path: './ratekeeper.db' });
const manager = new RateLimitManager<Chat>({
  sender: (batch) => telegram.send(batch), // throw to retry; a 2nd argument says { jobId, priority, attempt, scopes }
  capacity: 100, // messages per duration: the manager's own quota
  duration: '10m',
  backend,
  scopes: { 'chat:*': { limit: 1, window: '1s' } }, // per-message scopes (optional)
  // sleep: '100ms', algorithm: 'sliding-window' | 'fixed-window' | 'token-bucket' | 'anchored-window', name: 'default',
  // lowQuotaThreshold: 0.3, maxBatchFraction: 0.3, concurrency: 16, leaseTime: '5s', retention: '1d',
  // retry: { maxAttempts: 5, baseDelay: '1s', maxDelay: '1m' }, clock, random, logger
});
await manager.start();

// One batch, two chats: each chat's scope is charged one message.
const status = await manager.sendOrEnqueue(
  [
    { id: 'm1', payload: { chatId: 42, text: 'hi' }, scopes: 'chat:42' },
    { id: 'm2', payload: { chatId: 43, text: 'hello' }, scopes: 'chat:43' },
  ],
  'critical',
);
console.log(status); // passed-to-sender

// Two messages for chat:44 in one batch ask 2 of a scope that admits 1 per second: never sendable.
const tooLarge = await manager.sendOrEnqueue([
  { id: 'm3', payload: { chatId: 44, text: 'one' }, scopes: 'chat:44' },
  { id: 'm4', payload: { chatId: 44, text: 'two' }, scopes: 'chat:44' },
]);
console.log(tooLarge); // dropped-batch-too-large

console.log(await manager.getQuota()); // { remaining: 98, total: 100 }
// 'passed-to-sender' | 'enqueued' | 'retrying' | 'dead-lettered'
// | 'dropped' | 'dropped-batch-too-large' | 'dropped-failed-to-enqueue' | undefined
console.log(await manager.getMessageStatus('m1')); // passed-to-sender
const record = await manager.getMessageRecord('m3'); // { status, priority, attempts, lastError, createdAt, … }
console.log(record?.status, record?.lastError); // dropped-batch-too-large batch exceeds the capacity of …
const stats = await manager.stats(); // queued per priority, retrying, inFlight, deadLettered, counters, quota
console.log(stats.queued); // { critical: 0, normal: 0, optional: 0 }
await manager.stop(); // graceful; stop({ drain: true }) first empties the queue
await backend.close();
