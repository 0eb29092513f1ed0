import { describe, expect, it } from 'vitest';
import { TextCounts } from '../../../src/profiles/llm/text-counts.js';
import { estimateTokens, estimateTokensNow } from '../../../src/profiles/llm/tokens.js';

describe('TextCounts', () => {
  it('counts a text once while it is held, and answers what counting answers', () => {
    const counts = new TextCounts(8, 1000);
    const calls: string[] = [];
    const count = (text: string) => {
      calls.push(text);
      return text.length;
    };
    expect(counts.count('hello', count)).toBe(5);
    expect(counts.count('hello', count)).toBe(5);
    expect(counts.count('hi', count)).toBe(2);
    expect(calls).toEqual(['hello', 'hi']);
  });

  it('holds at most two generations of its bound (entries and characters); a text used again stays', () => {
    const counts = new TextCounts(4, 100);
    const count = (text: string) => text.length;
    counts.count('kept', count);
    for (let i = 0; i < 1000; i++) {
      counts.count(`text ${i}`, count);
      if (i % 3 === 0) counts.count('kept', count);
      expect(counts.size.entries).toBeLessThanOrEqual(8);
    }
    let recounted = 0;
    counts.count('kept', () => ++recounted);
    expect(recounted).toBe(0);
    const wide = new TextCounts(1000, 100);
    for (let i = 0; i < 50; i++) wide.count(`${i}`.padEnd(20, 'x'), count);
    expect(wide.size.chars).toBeLessThanOrEqual(200);
  });

  it('does not keep a text longer than a quarter of the character bound', () => {
    const counts = new TextCounts(8, 100);
    let calls = 0;
    const count = () => ++calls;
    counts.count('x'.repeat(26), count);
    counts.count('x'.repeat(26), count);
    expect(calls).toBe(2);
    expect(counts.size).toEqual({ entries: 0, chars: 0 });
  });
});

describe('estimateTokensNow', () => {
  it('answers undefined until the tokenizer is loaded, then what estimateTokens answers', async () => {
    // cl100k_base is loaded by no other test of this file: the first answer is undefined.
    expect(estimateTokensNow('gpt-4', 'hello world')).toBeUndefined();
    expect(await estimateTokens('gpt-4', 'hello world')).toBe(2);
    expect(estimateTokensNow('gpt-4', 'hello world')).toBe(2);
    const chat = [{ role: 'user', content: 'Say hello' }];
    expect(estimateTokensNow('gpt-4', chat)).toBe(await estimateTokens('gpt-4', chat));
    expect(estimateTokensNow('claude-sonnet-4', 'x'.repeat(400))).toBe(100);
  });
});
