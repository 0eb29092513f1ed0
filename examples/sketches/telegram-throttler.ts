import { Bot } from 'grammy';
import { SqliteBackend } from 'ratekeeper';
import { telegramThrottler } from 'ratekeeper/telegram';

const bot = new Bot(token);
bot.api.config.use(
  telegramThrottler({
    backend: new SqliteBackend({ path: './ratekeeper.db' }), // or RedisBackend: shared by every process of the bot
    token, // only the bot id (the digits before ':') is used; without it, one getMe asks
    // clock, limits: { global, chat, group }, maxAttempts: 3
  }),
);
await bot.api.sendMessage(chatId, 'hello'); // waits as long as Telegram's limits require, never gets a 429 from them
