import { FakeClock, RateLimiter } from 'ratekeeper';

// A clock is { now(): number; sleep?(ms, signal?) }. With only now(), waits use real timers.
const ahead = new RateLimiter({ clock: { now: () => Date.now() + 250 } });
console.log(ahead.clock.now() > Date.now()); // true

// FakeClock moves only when told, so tests of rate math never sleep.
const clock = new FakeClock(0);
const limiter = new RateLimiter({ clock, scopes: { api: { limit: 2, window: '1m' } } });
await limiter.tryAcquire({ scopes: 'api' });
await limiter.tryAcquire({ scopes: 'api' });
let admittedAt = -1;
const waiting = limiter.acquire({ scopes: 'api' }).then(() => {
  admittedAt = clock.now();
});
await clock.advance(59_000);
console.log(admittedAt); // -1: still waiting
await clock.advance(2_000);
await waiting;
console.log(admittedAt); // 60300: one minute after the first two, rounded up to the window's 300 ms step
