/**
 * The memory store's sweeps: idle states are deleted a few at a time as decisions run. Where nothing is idle
 * (a bot whose chats are all active), a sweep is pure overhead (one cache miss per entry it examines on a big
 * map), so the sweeps slow down while they find nothing and speed up again as soon as they find idle states.
 */
import { describe, expect, it } from 'vitest';
import { MemoryLimitStore } from '../../src/backends/memory/limit-store.js';
import { ScopeRules } from '../../src/engine/rules.js';

const T = 1_700_000_000_000;
const rules = new ScopeRules({ 'chat:*': { limit: 1e9, window: 60_000, algorithm: 'fixed-window' } });

/** A store holding `count` chats, each decided once at `T`. */
function storeOf(count: number): MemoryLimitStore {
  const store = new MemoryLimitStore();
  for (let i = 0; i < count; i++) store.decideDefault(`chat:${i}`, rules, T);
  return store;
}

describe('MemoryLimitStore sweeps', () => {
  it('examine few entries while every state is live', () => {
    const store = storeOf(20_000);
    // One sweep per 1024 decisions: 100 sweeps, on states live for the whole minute.
    const before = store.swept;
    for (let i = 0; i < 102_400; i++) store.decideDefault(`chat:${i % 20_000}`, rules, T + 1000);
    const examined = store.swept - before;
    expect(store.size).toBe(20_000);
    // The first sweeps examine 256 entries (plus twice the entries created since the last one); once they
    // have found nothing idle they examine 16: well under the 25,600 of a fixed budget.
    expect(examined).toBeLessThan(6_000);
    expect(examined).toBeGreaterThan(100 * 16 - 1);
  });

  it('delete every idle state soon after it went idle, after a long run of live ones', () => {
    const store = storeOf(20_000);
    for (let i = 0; i < 102_400; i++) store.decideDefault(`chat:${i % 20_000}`, rules, T + 1000);
    // Every chat's window has ended (and the idle grace): decisions on one other chat drive the sweeps.
    const later = T + 60_000 + 1000 + 1;
    let ops = 0;
    while (store.size > 1 && ops < 1_000_000) {
      store.decideDefault('chat:hot', rules, later);
      ops++;
    }
    expect(store.size).toBe(1);
    // A fixed budget of 256 per 1024 decisions needs 80k decisions for 20k idle entries; the sweeps that
    // find idle entries grow to that budget within a few steps, so it takes about as many.
    expect(ops).toBeLessThan(100_000);
  });

  it('keep up with a new key on every decision (the map stays bounded)', () => {
    const store = new MemoryLimitStore();
    const short = new ScopeRules({ 'chat:*': { limit: 10, window: 100, algorithm: 'fixed-window' } });
    let most = 0;
    for (let i = 0; i < 200_000; i++) {
      store.decideDefault(`chat:${i}`, short, T + i); // one new key a ms, each idle 1.1 s later
      most = Math.max(most, store.size);
    }
    // Live within the last ~1.1 s: 1,100 keys; a pass over the map lags behind by about one pass.
    expect(most).toBeLessThan(5_000);
  });
});
