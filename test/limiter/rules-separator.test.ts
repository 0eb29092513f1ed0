import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/core/errors.js';
import { compileRule } from '../../src/engine/rules.js';

describe('rule names and units', () => {
  it("refuse '|', which separates scope and rule in state keys (no two pairs may share a key)", () => {
    expect(() => compileRule({ limit: 1, window: '1s', name: 'a|b' })).toThrow(InvalidArgumentError);
    expect(() => compileRule({ limit: 1, window: '1s', unit: 'to|kens' })).toThrow(
      /rule\.unit: expected a non-empty string without '\|'/,
    );
    expect(compileRule({ limit: 1, window: '1s', unit: 'tokens' }).name).toBe('tokens/1000ms');
  });
});
