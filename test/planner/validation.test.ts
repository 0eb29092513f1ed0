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

const DELETE = Symbol('delete');
type Edit = [path: string, value: unknown] | ((input: Record<string, unknown>) => void);

/** Sets (or with DELETE removes) the value at a path like `types.X.endpoints[1].limit`. */
function set(input: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split(/\.|\[(\d+)\]/).filter((k) => k !== undefined && k !== '');
  let at = input as Record<string, unknown>;
  for (const key of keys.slice(0, -1)) at = at[key] as Record<string, unknown>;
  const last = keys[keys.length - 1]!;
  if (value === DELETE) delete at[last];
  else at[last] = value;
}

const T = 'types.REBALANCE_NEEDED';
const E1 = `${T}.endpoints[1]`;

/** [the field the error must name, the edit] (a path edit sets the named field itself). */
const cases: Array<[string, Edit]> = [
  ['deadline', ['deadline', DELETE]],
  ['deadline', ['deadline', 0]],
  ['deadline', ['deadline', 'soon']],
  ['maxWorkers', ['maxWorkers', 0]],
  ['maxWorkers', ['maxWorkers', 2.5]],
  ['maxWorkers', ['maxWorkers', '20']],
  ['maxworkers', ['maxworkers', 20]],
  ['types', ['types', {}]],
  ['types', ['types', []]],
  ['types', ['types', DELETE]],
  [T, [T, 5]],
  [`${T}.backlog`, [`${T}.backlog`, -1]],
  [`${T}.backlog`, [`${T}.backlog`, 1.5]],
  [`${T}.backlog`, [`${T}.backlog`, DELETE]],
  [`${T}.duration`, [`${T}.duration`, '2 seconds']],
  [`${T}.duration`, [`${T}.duration`, 0]],
  [`${T}.priority`, [`${T}.priority`, 'high']],
  [`${T}.endpoints`, [`${T}.endpoints`, []]],
  [`${T}.endpoints`, [`${T}.endpoints`, { name: 'x' }]],
  [E1, [E1, 'rebalance-overflow-1']],
  [`${E1}.name`, [`${E1}.name`, '']],
  [`${E1}.name`, [`${E1}.name`, 'rebalance']],
  [`${E1}.limit`, [`${E1}.limit`, 0]],
  [`${E1}.limit`, [`${E1}.limit`, 2.5]],
  [`${E1}.limit`, [`${E1}.limit`, DELETE]],
  [`${E1}.window`, [`${E1}.window`, '1 minute']],
  [`${E1}.window`, [`${E1}.window`, 0]],
  [`${E1}.algorithm`, [`${E1}.algorithm`, 'leaky-bucket']],
  [`${E1}.burst`, [`${E1}.burst`, 10]],
  [
    `${E1}.burst`,
    (i) => {
      set(i, `${E1}.algorithm`, 'token-bucket');
      set(i, `${E1}.burst`, 0);
    },
  ],
  [`${E1}.limt`, [`${E1}.limt`, 30]],
  ['leftovers', ['leftovers', 12]],
  ['leftovers.REBALANCE', ['leftovers', { REBALANCE: 12 }]],
  ['leftovers.REBALANCE_NEEDED', ['leftovers.REBALANCE_NEEDED', -1]],
  ['start', ['start', -1]],
  ['start', ['start', 'tomorrow']],
  ['start', ['start', new Date('not a date')]],
];

describe('plan: validation', () => {
  it('the valid input plans', () => {
    expect(plan(valid() as unknown as PlanInput).types.REBALANCE_NEEDED!.jobs).toBe(312);
  });

  it.each(cases)('%s: InvalidArgumentError naming the field', (field, edit) => {
    const input = valid();
    if (typeof edit === 'function') edit(input);
    else set(input, edit[0], edit[1]);
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
