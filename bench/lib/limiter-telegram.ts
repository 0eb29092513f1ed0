/**
 * The Telegram-shaped decision: global + bot + chat scopes, two rules each, checked and charged together,
 * against what a rate-limiter-flexible user writes for the same limits: a `RateLimiterUnion` of the six
 * `RateLimiterMemory` limiters.
 */
import { type IRateLimiterOptions, RateLimiterMemory, RateLimiterUnion } from 'rate-limiter-flexible';
import { MemoryBackend } from '../../src/backends/memory/index.js';
import type { Rule } from '../../src/core/types.js';
import { RateLimiter } from '../../src/limiter/rate-limiter.js';
import { type Batch, type BenchRow, duel } from '../harness.js';
import {
  admittedShare,
  awaitCeiling,
  Cursor,
  ceilingNote,
  chatKeys,
  LIMIT,
  oursAsync,
  rlfRejection,
  Tally,
  WINDOW_S,
} from './limiter-kit.js';

/** Chats and bots of the rows (each chat belongs to bot `i % BOTS`). */
export const CHATS = 10_000;
const BOTS = 10;
/** Token-bucket refill (see bench/limiter.ts, TB_RATE). */
const TB_RATE = 1_000_000;

export type Shape = 'sliding-window' | 'token-bucket + fixed-window';

/**
 * A `RateLimiterMemory` in a union whose key is the chat's index: it keys its own state by the scope it
 * limits (`global`, the chat's bot, or the chat), as a user sharing one union across scopes has to.
 */
class ScopedMemory extends RateLimiterMemory {
  readonly #scopeOf: (chat: number) => string;
  constructor(options: IRateLimiterOptions, scopeOf: (chat: number) => string) {
    super(options);
    this.#scopeOf = scopeOf;
  }
  override consume(key: string | number, points?: number, options?: Record<string, unknown>) {
    return super.consume(this.#scopeOf(key as number), points, options);
  }
}

/** The six limiters of the shape as RLF limits (a fixed window each: RLF's memory algorithm). */
function rlfUnion(shape: Shape): RateLimiterUnion {
  const chats = chatKeys(CHATS);
  const bots = Array.from({ length: BOTS }, (_, i) => `bot:${i}`);
  const scopes: Array<[string, (chat: number) => string]> = [
    ['global', () => 'global'],
    ['bot', (chat) => bots[chat % BOTS]!],
    ['chat', (chat) => chats[chat]!],
  ];
  const long = shape === 'sliding-window' ? 3600 : 86_400;
  const limiters = scopes.flatMap(([name, scopeOf]) => [
    new ScopedMemory({ keyPrefix: `${name}-s`, points: LIMIT, duration: WINDOW_S }, scopeOf),
    new ScopedMemory({ keyPrefix: `${name}-l`, points: LIMIT * 60, duration: long }, scopeOf),
  ]);
  return new RateLimiterUnion(...limiters);
}

function unionBatch(union: RateLimiterUnion, tally: Tally): Batch {
  const cursor = new Cursor(CHATS);
  return async (n: number) => {
    let admitted = 0;
    for (let i = 0; i < n; i++) {
      try {
        await union.consume(cursor.take());
        admitted++;
      } catch (error) {
        // A union rejects with an object of each rejecting limiter's RateLimiterRes.
        if (error === null || typeof error !== 'object' || error instanceof Error) throw error;
        for (const res of Object.values(error)) rlfRejection(res);
      }
    }
    tally.admitted += admitted;
    tally.total += n;
  };
}

/** The row of one shape, with its awaited ceiling against the same union. */
export async function telegramShape(shape: Shape): Promise<BenchRow> {
  const rules: Rule[] =
    shape === 'sliding-window'
      ? [
          { limit: LIMIT, window: WINDOW_S * 1000 },
          { limit: LIMIT * 60, window: '1h', name: 'hourly' },
        ]
      : [
          { limit: TB_RATE, window: 1000, burst: LIMIT, algorithm: 'token-bucket' },
          { limit: LIMIT * 60, window: '1d', algorithm: 'fixed-window', name: 'daily' },
        ];
  const limiter = new RateLimiter({
    backend: new MemoryBackend(),
    scopes: { global: rules, 'bot:*': rules, 'chat:*': rules },
  });
  const requests = chatKeys(CHATS).map((chat, i) => ({ scopes: ['global', `bot:${i % BOTS}`, chat] }));
  const [ourTally, theirTally] = [new Tally(), new Tally()];
  const result = await duel(oursAsync(limiter, requests, ourTally), unionBatch(rlfUnion(shape), theirTally));
  ourTally.check('ours');
  theirTally.check('rate-limiter-flexible');
  const described =
    shape === 'sliding-window'
      ? `${LIMIT} per ${WINDOW_S}s and ${LIMIT * 60} per hour (ours sliding windows, RLF fixed windows)`
      : `a token bucket (${TB_RATE}/s, burst ${LIMIT}) and a daily cap of ${LIMIT * 60} (RLF: ${LIMIT} per ` +
        `${WINDOW_S}s and the daily cap, fixed windows)`;
  const row: BenchRow = {
    name: `memory tryAcquire: Telegram shape, 3 scopes x 2 rules (${shape}), 10k chats`,
    ours: result.ours,
    peer: 'rate-limiter-flexible RateLimiterUnion of 6 RateLimiterMemory',
    theirs: result.theirs,
    unit: 'decisions',
    target: 2,
    note:
      `global + bot (${BOTS} keys) + chat (${CHATS / 1000}k keys), each scope with ${described}: ours checks ` +
      'the 6 rule states and charges them all or none; the union consumes its 6 limiters (each keyed by its ' +
      'own scope, the union keyed by the chat) and is not atomic (a refusal by one leaves the others ' +
      `charged). Every call awaited; ${admittedShare(ourTally)} / ${admittedShare(theirTally)} admitted.`,
  };
  const ceiling = await awaitCeiling(unionBatch(rlfUnion(shape), new Tally()));
  row.note += ceilingNote(row.ours / row.theirs, ceiling);
  return row;
}
