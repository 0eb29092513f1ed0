import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration, parsePositiveDuration } from '../../src/core/duration.js';
import { InvalidArgumentError } from '../../src/core/errors.js';

describe('parseDuration', () => {
  it.each([
    [0, 0],
    [250, 250],
    [0.5, 0.5],
    ['250ms', 250],
    ['1s', 1_000],
    ['1.5s', 1_500],
    ['1m', 60_000],
    ['10m', 600_000],
    ['1h', 3_600_000],
    ['1d', 86_400_000],
    [' 2 s ', 2_000],
    ['0ms', 0],
  ])('%j → %d ms', (input, expected) => {
    expect(parseDuration(input)).toBe(expected);
  });

  it.each([
    '10 parsecs',
    '-1s',
    '1',
    's',
    '',
    '1e3ms',
    '1 s s',
    '1w',
    '1S',
    Number.NaN,
    -1,
    Number.POSITIVE_INFINITY,
    null,
    undefined,
    {},
    [],
  ])('rejects %j with the field name and what is expected', (input) => {
    let error: unknown;
    try {
      parseDuration(input, 'window');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error).toMatchObject({ field: 'window', code: 'ERR_INVALID_ARGUMENT' });
    expect((error as Error).message).toMatch(
      /^window: expected a non-negative number of milliseconds or a string like/,
    );
  });

  it('parsePositiveDuration rejects zero', () => {
    expect(parsePositiveDuration('1ms')).toBe(1);
    expect(() => parsePositiveDuration(0, 'window')).toThrow(/window: expected a duration greater than zero/);
    expect(() => parsePositiveDuration('0s')).toThrow(InvalidArgumentError);
  });
});

describe('formatDuration', () => {
  it.each([
    [0, '0ms'],
    [250, '250ms'],
    [0.5, '0.5ms'],
    [1_000, '1s'],
    [1_500, '1.5s'],
    [60_000, '1m'],
    [90_000, '1.5m'],
    [3_600_000, '1h'],
    [86_400_000, '1d'],
    [172_800_000, '2d'],
    [Number.POSITIVE_INFINITY, 'Infinity'],
  ])('%d ms → %s', (ms, expected) => {
    expect(formatDuration(ms)).toBe(expected);
  });

  it('round-trips through parseDuration to within the 2-decimal rounding', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10 * 86_400_000 }), (ms) => {
        const back = parseDuration(formatDuration(ms));
        expect(Math.abs(back - ms)).toBeLessThanOrEqual(Math.max(0.005, ms * 0.005));
      }),
      { seed: 10 },
    );
  });
});
