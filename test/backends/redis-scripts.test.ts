import { describe, expect, it } from 'vitest';
import { expandIncludes, script } from '../../src/backends/redis/scripts.js';

const LIMIT_SCRIPTS = ['adjust', 'block', 'decide', 'inspect', 'peek', 'reset'].map((n) => `limit-${n}.v2`);

describe('Redis script assembly (-- @include)', () => {
  it('expands every include once, before its first use, and leaves no directive behind', () => {
    for (const name of LIMIT_SCRIPTS) {
      const source = script(name).source;
      expect(source, name).not.toMatch(/^-- @include /m);
      // Each piece starts with a header line naming it: at most once per script.
      for (const piece of ['numbers', 'keys', 'state', 'cache', 'decide', 'fast']) {
        expect(source.split(`-- limits/${piece}:`).length - 1, `${name} ${piece}`).toBeLessThanOrEqual(1);
      }
    }
    expect(expandIncludes('-- @include limits/keys\n-- @include limits/keys\nx')).toMatch(
      /local STATE_KEY[\s\S]*-- \(limits\/keys included above\)\nx$/,
    );
  });

  it('gives each script only what it needs', () => {
    const lines = (name: string) => script(name).source.split('\n').length;
    expect(script('limit-block.v2').source).not.toContain('limits/');
    expect(script('limit-reset.v2').source).not.toContain('local function sw_wait');
    expect(script('limit-inspect.v2').source).not.toContain('local function decide(');
    expect(script('limit-peek.v2').source).not.toContain('local function decide_fast');
    expect(lines('limit-block.v2')).toBeLessThan(20);
    expect(lines('limit-reset.v2')).toBeLessThan(lines('limit-inspect.v2'));
  });
});
