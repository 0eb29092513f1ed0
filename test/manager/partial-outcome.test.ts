/** How the failed messages of a batch are parted: each part is settled as its own failure. */
import { describe, expect, it } from 'vitest';
import { failedParts } from '../../src/manager/partial-outcome.js';
import { PermanentError, RetryAfterError } from '../../src/manager/sender-errors.js';

const NOW = 1_700_000_000_000;

describe('failedParts', () => {
  it('retry-after answers first (the longest wait), then the transient ones, then one part per permanent reason', () => {
    const short = new RetryAfterError(1_000);
    const long = { status: 429, headers: { 'Retry-After': '3' } };
    const flaky = new Error('HTTP 503');
    const gone = new PermanentError('chat not found');
    const parts = failedParts(
      [
        { id: 'p1', error: gone },
        { id: 't1', error: flaky },
        { id: 'r1', error: short },
        { id: 'p2', error: { status: 400, message: 'message too long' } },
        { id: 'r2', error: long },
        { id: 't2', error: new Error('socket hang up') },
        { id: 'p3', error: new PermanentError('chat not found') },
      ],
      NOW,
    );
    expect(parts.map((p) => p.ids)).toEqual([['r1', 'r2'], ['t1', 't2'], ['p1', 'p3'], ['p2']]);
    expect(parts.map((p) => p.error)).toEqual([
      long,
      flaky,
      gone,
      { status: 400, message: 'message too long' },
    ]);
  });

  it('failures all alike are one part, with the error a thrown one would have been', () => {
    const gone = new PermanentError('chat not found');
    expect(
      failedParts(
        [
          { id: 'a', error: gone },
          { id: 'b', error: new PermanentError('chat not found') },
        ],
        NOW,
      ),
    ).toEqual([{ ids: ['a', 'b'], error: gone }]);
    const flaky = new Error('HTTP 503');
    expect(
      failedParts(
        [
          { id: 'a', error: flaky },
          { id: 'b', error: new Error('HTTP 502') },
        ],
        NOW,
      ),
    ).toEqual([{ ids: ['a', 'b'], error: flaky }]);
  });
});
