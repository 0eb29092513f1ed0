import type { Clock } from '../../core/clock.js';
import { CostExceedsCapacityError } from '../../core/errors.js';
import type { Decision } from '../../core/types.js';
import type { RateLimiter } from '../../limiter/rate-limiter.js';
import { Lines, sleepUnlessAborted } from './lines.js';
import type { TelegramScopes } from './scopes.js';

/**
 * Admits one message at a time per bot, from the chats that are ready, first come first served.
 *
 * A message first waits for its own chat (and group) outside any line: it sleeps exactly until their
 * limits and blocks would admit it. Then it joins the bot's line, whose head alone waits for the bot's
 * global slot and takes it atomically with the chat's and group's. Without the line, every chat of a busy
 * bot would wake at each freed global slot and all but one would go back to sleep: a hundred chats cost a
 * hundred decisions per message. With it, a message costs about two, and ready chats share the bot's
 * 30 per second in turn.
 */
export class BotAdmission {
  readonly #limiter: RateLimiter;
  readonly #clock: Clock;
  readonly #lines = new Lines();

  constructor(limiter: RateLimiter) {
    this.#limiter = limiter;
    this.#clock = limiter.clock;
  }

  /**
   * Resolves once the message has been admitted and charged on every scope.
   * @throws AbortError when `signal` aborts; nothing is charged then.
   */
  async admit(scopes: Omit<TelegramScopes, 'rules'>, signal: AbortSignal | undefined): Promise<void> {
    const own = scopes.group ? [scopes.chat, scopes.group] : [scopes.chat];
    for (;;) {
      const ready = await this.#limiter.peek({ scopes: own });
      if (!ready.allowed) {
        await this.#sleep(ready, signal);
        continue;
      }
      const admitted = await this.#lines.run(scopes.bot, signal, async () => {
        for (;;) {
          const decision = await this.#limiter.tryAcquire({ scopes: scopes.scopes });
          if (decision.allowed) return true;
          // The chat got busy meanwhile (a block from another process): leave the line to the next chat.
          if (decision.blockedBy?.scope !== scopes.bot) return false;
          await this.#sleep(decision, signal);
        }
      });
      if (admitted) return;
    }
  }

  #sleep(decision: Decision, signal: AbortSignal | undefined): Promise<void> {
    if (decision.retryAfterMs === Number.POSITIVE_INFINITY) {
      const by = decision.blockedBy;
      throw new CostExceedsCapacityError(by?.scope ?? '?', by?.rule ?? '?', 1, decision.limit);
    }
    return sleepUnlessAborted(this.#clock.sleep.bind(this.#clock), decision.retryAfterMs, signal);
  }
}
