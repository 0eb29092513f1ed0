import { InvalidArgumentError as CommanderArgumentError } from 'commander';

/** Commander parser of an integer ≥ 1. */
export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new CommanderArgumentError('expected an integer >= 1');
  return n;
}
