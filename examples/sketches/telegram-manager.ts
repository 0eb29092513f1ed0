import { RateLimitManager, SqliteBackend } from 'ratekeeper';
import { telegramRules, telegramScopes } from 'ratekeeper/telegram';

const manager = new RateLimitManager<{ chatId: number; text: string }>({
  backend: new SqliteBackend({ path: './ratekeeper.db' }),
  capacity: 30,
  duration: '1s', // the manager's own quota
  scopes: telegramRules(), // { 'telegram:bot:*', 'telegram:chat:*', 'telegram:group:*' }
  sender: async (batch) => {
    for (const m of batch) await api.sendMessage(m.payload.chatId, m.payload.text); // a 429 thrown here
  }, // blocks the scopes
});
await manager.start();
await manager.sendOrEnqueue(
  [{ id: 'm1', payload: { chatId: -1001234, text: 'hi' }, scopes: telegramScopes(token, -1001234).scopes }],
  'normal',
);
