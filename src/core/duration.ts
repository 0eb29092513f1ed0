import { InvalidArgumentError } from './errors.js';

/**
 * A span of time: milliseconds as a number, or a string with one unit:
 * `'250ms'`, `'1.5s'`, `'1m'`, `'10m'`, `'1h'`, `'1d'`.
 */
export type Duration = number | `${number}${DurationUnit}`;
export type DurationUnit = 'ms' | 's' | 'm' | 'h' | 'd';

const UNIT_MS: Record<DurationUnit, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const PATTERN = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/;
const EXPECTED =
  "a non-negative number of milliseconds or a string like '250ms', '1s', '1m', '10m', '1h', '1d'";

/**
 * Converts a {@link Duration} to milliseconds.
 * @param field named in the error when the value is malformed.
 * @throws InvalidArgumentError for negative, non-finite or malformed values.
 * @example parseDuration('10m') // 600000
 */
export function parseDuration(value: unknown, field = 'duration'): number {
  if (typeof value === 'number') {
    if (Number.isFinite(value) && value >= 0) return value;
    throw new InvalidArgumentError(field, EXPECTED, value);
  }
  if (typeof value === 'string') {
    const match = PATTERN.exec(value);
    if (match) return Number(match[1]) * UNIT_MS[match[2] as DurationUnit];
  }
  throw new InvalidArgumentError(field, EXPECTED, value);
}

/** Like {@link parseDuration} but rejects zero. */
export function parsePositiveDuration(value: unknown, field = 'duration'): number {
  const ms = parseDuration(value, field);
  if (ms <= 0) throw new InvalidArgumentError(field, 'a duration greater than zero', value);
  return ms;
}

/** Formats milliseconds for humans: 1500 → '1.5s'. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    if (ms >= UNIT_MS[unit]) return `${+(ms / UNIT_MS[unit]).toFixed(2)}${unit}`;
  }
  return `${+ms.toFixed(2)}ms`;
}
