import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/core/errors.js';
import { plan } from '../../src/planner/index.js';
import type { PlanInput } from '../../src/planner/types.js';

/** A valid input; each case breaks one value of a copy. */
function valid(): Record<string, unknown> {
  return {
    deadline: '3m',
    maxWorkers: 20,
    types: {
      REBALANCE_NEEDED: {
        backlog: 300,
        duration: '2s',
        endpoints: [
          { name: 'rebalance', limit: 30, window: '1m' },
          { name: 'rebalance-overflow-1', limit: 30, window: '1m' },
        ],
      },
    },
    leftovers: { REBALANCE_NEEDED: 12 },
  };
}

type Edit = (input: Record<string, any>) => void;
const T = 'types.REBALANCE_NEEDED';

const cases: Array<[string, Edit]> = [
  ['deadline', (i) => delete i.deadline],
  ['deadline', (i) => (i.deadline = 0)],
  ['deadline', (i) => (i.deadline = 'soon')],
  ['maxWorkers', (i) => (i.maxWorkers = 0)],
  ['maxWorkers', (i) => (i.maxWorkers = 2.5)],
  ['maxWorkers', (i) => (i.maxWorkers = '20')],
  ['maxworkers', (i) => (i.maxworkers = 20)],
  ['types', (i) => (i.types = {})],
  ['types', (i) => (i.types = [])],
  ['types', (i) => delete i.types],
  [T, (i) => (i.types.REBALANCE_NEEDED = 5)],
  [`${T}.backlog`, (i) => (i.types.REBALANCE_NEEDED.backlog = -1)],
  [`${T}.backlog`, (i) => (i.types.REBALANCE_NEEDED.backlog = 1.5)],
  [`${T}.backlog`, (i) => delete i.types.REBALANCE_NEEDED.backlog],
  [`${T}.duration`, (i) => (i.types.REBALANCE_NEEDED.duration = '2 seconds')],
  [`${T}.duration`, (i) => (i.types.REBALANCE_NEEDED.duration = 0)],
  [`${T}.priority`, (i) => (i.types.REBALANCE_NEEDED.priority = 'high')],
  [`${T}.endpoints`, (i) => (i.types.REBALANCE_NEEDED.endpoints = [])],
  [`${T}.endpoints`, (i) => (i.types.REBALANCE_NEEDED.endpoints = { name: 'x' })],
  [`${T}.endpoints[1]`, (i) => (i.types.REBALANCE_NEEDED.endpoints[1] = 'rebalance-overflow-1')],
  [`${T}.endpoints[1].name`, (i) => (i.types.REBALANCE_NEEDED.endpoints[1].name = '')],
  [`${T}.endpoints[1].name`, (i) => (i.types.REBALANCE_NEEDED.endpoints[1].name = 'rebalance')],
  [`${T}.endpoints[1].limit`, (i) => (i.types.REBALANCE_NEEDED.endpoints[1].limit = 0)],
  [`${T}.endpoints[1].limit`, (i) => (i.types.REBALANCE_NEEDED.endpoints[1].limit = 2.5)],
  [`${T}.endpoints[1].limit`, (i) => delete i.types.REBALANCE_NEEDED.endpoints[1].limit],
  [`${T}.endpoints[1].window`, (i) => (i.types.REBALANCE_NEEDED.endpoints[1].window = '1 minute')],
  [`${T}.endpoints[1].window`, (i) => (i.types.REBALANCE_NEEDED.endpoints[1].window = 0)],
  [`${T}.endpoints[1].algorithm`, (i) => (i.types.REBALANCE_NEEDED.endpoints[1].algorithm = 'leaky-bucket')],
  [`${T}.endpoints[1].burst`, (i) => (i.types.REBALANCE_NEEDED.endpoints[1].burst = 10)],
  [
    `${T}.endpoints[1].burst`,
    (i) => Object.assign(i.types.REBALANCE_NEEDED.endpoints[1], { algorithm: 'token-bucket', burst: 0 }),
  ],
  [`${T}.endpoints[1].limt`, (i) => (i.types.REBALANCE_NEEDED.endpoints[1].limt = 30)],
  ['leftovers', (i) => (i.leftovers = 12)],
  ['leftovers.REBALANCE', (i) => (i.leftovers = { REBALANCE: 12 })],
  ['leftovers.REBALANCE_NEEDED', (i) => (i.leftovers.REBALANCE_NEEDED = -1)],
  ['start', (i) => (i.start = -1)],
  ['start', (i) => (i.start = 'tomorrow')],
  ['start', (i) => (i.start = new Date('not a date'))],
];

describe('plan: validation', () => {
  it('the valid input plans', () => {
    expect(plan(valid() as unknown as PlanInput).types.REBALANCE_NEEDED!.jobs).toBe(312);
  });

  it.each(cases)('%s: InvalidArgumentError naming the field', (field, edit) => {
    const input = valid();
    edit(input);
    let error: unknown;
    try {
      plan(input as unknown as PlanInput);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', field });
    expect((error as Error).message.startsWith(`${field}: expected `)).toBe(true);
  });

  it('a non-object input', () => {
    expect(() => plan(null as unknown as PlanInput)).toThrow(expect.objectContaining({ field: 'input' }));
    expect(() => plan('3m' as unknown as PlanInput)).toThrow(InvalidArgumentError);
  });
});
