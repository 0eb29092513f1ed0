/**
 * go-ratelimit YAML state import: every quota and usage entry of a hand-written file counts against the
 * limits exactly, on memory, SQLite and Redis; a corrupt file is refused naming the path and the entry, and
 * nothing is written.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../../src/core/clock.js';
import {
  GoStateFileError,
  importGoState,
  parseGoState,
  readGoState,
} from '../../../src/profiles/llm/go-state.js';
import { ModelLimiter } from '../../../src/profiles/llm/model-limiter.js';
import { backendCases } from './backends.js';

const FIXTURE = join(import.meta.dirname, 'fixtures/go-ratelimit.yaml');
const CORRUPT = join(import.meta.dirname, 'fixtures/go-ratelimit-corrupt.yaml');
const NOW = Date.parse('2026-02-19T10:00:30Z');

describe('parseGoState', () => {
  it('reads quotas, RFC 3339 times (nanoseconds, offsets) and token entries', async () => {
    const state = await readGoState(FIXTURE);
    expect(state.quotas).toEqual({
      'gemini-3-pro-preview': { maxRpm: 150, maxTpm: 1_000_000, maxRpd: 1000 },
      'gpt-4o': { maxRpm: 5, maxTpm: 30_000, maxRpd: 0 },
      'my-model': { maxRpm: 10, maxTpm: 0, maxRpd: 100 },
    });
    expect(state.state['gemini-3-pro-preview']!.requests).toEqual([
      Date.parse('2026-02-19T09:59:40.123Z'),
      Date.parse('2026-02-19T10:00:05Z'),
      Date.parse('2026-02-19T10:00:20.500Z'),
    ]);
    expect(state.state['gemini-3-pro-preview']!.tokens[0]).toEqual({
      time: Date.parse('2026-02-19T09:59:40.123Z'),
      count: 1200,
    });
    expect(state.state['my-model']).toEqual({
      requests: [],
      tokens: [],
      dayStart: NOW - 30_000,
      dayCount: 100,
    });
  });

  it('refuses bad files with the path and the entry named', async () => {
    await expect(readGoState(CORRUPT)).rejects.toThrow(
      `${CORRUPT}: state.gpt-4o.requests.1: expected an RFC 3339 time`,
    );
    await expect(readGoState('/nonexistent/ratelimits.yaml')).rejects.toThrow(
      /ratelimits\.yaml: expected a readable file, received "ENOENT"/,
    );
    expect(() => parseGoState('quotas: [1, 2', 'f.yaml')).toThrow(/f\.yaml: expected valid YAML/);
    expect(() => parseGoState('quotas:\n  m:\n    max_rpm: -1\n', 'f.yaml')).toThrow(
      /f\.yaml: quotas\.m\.max_rpm: expected/,
    );
    expect(() =>
      parseGoState(
        'state:\n  m:\n    tokens:\n      - { time: 2026-02-19T10:00:00Z, count: 1.5 }\n',
        'f.yaml',
      ),
    ).toThrow(/state\.m\.tokens\.0\.count/);
    expect(() => parseGoState('- 1\n', 'f.yaml')).toThrow(GoStateFileError);
    expect(parseGoState('', 'empty.yaml')).toEqual({ quotas: {}, state: {} });
  });
});

for (const backend of await backendCases('go-ratelimit import on Redis')) {
  describe.skipIf(backend.skip)(`importGoState on ${backend.name}`, () => {
    it('imports every quota and live usage entry, which then counts against the limits exactly', async () => {
      const clock = new FakeClock(NOW);
      const ml = new ModelLimiter({ backend: backend.make(), clock, providers: ['local'] });
      const report = await importGoState(ml, FIXTURE);
      expect(report.models).toEqual({
        'gemini-3-pro-preview': { requests: 3, tokens: 2500, dayCount: 998 },
        'gpt-4o': { requests: 4, tokens: 29_000, dayCount: 0 },
        'my-model': { requests: 0, tokens: 0, dayCount: 100 },
      });
      expect(report.expired).toBe(2);
      expect(ml.quota('gpt-4o')).toEqual({ maxRpm: 5, maxTpm: 30_000, maxRpd: 0 });
      expect(await ml.allStats()).toEqual({
        'gemini-3-pro-preview': { rpm: 3, maxRpm: 150, tpm: 2500, maxTpm: 1_000_000, rpd: 998, maxRpd: 1000 },
        'gpt-4o': { rpm: 4, maxRpm: 5, tpm: 29_000, maxTpm: 30_000, rpd: 0, maxRpd: 0 },
        'my-model': { rpm: 0, maxRpm: 10, tpm: 0, maxTpm: 0, rpd: 100, maxRpd: 100 },
      });
      // gpt-4o: 4 of 5 requests and 29,000 of 30,000 tokens used.
      expect(await ml.decide('gpt-4o', 1000)).toMatchObject({ allowed: true });
      expect(await ml.decide('gpt-4o', 1001)).toMatchObject({ allowed: false, code: 'tpm_exceeded' });
      expect(await ml.decide('my-model')).toMatchObject({ allowed: false, code: 'rpd_exceeded' });
      await ml.reserve('gemini-3-pro-preview', 0);
      await ml.reserve('gemini-3-pro-preview', 0);
      expect(await ml.decide('gemini-3-pro-preview')).toMatchObject({ allowed: false, code: 'rpd_exceeded' });
      // Each entry leaves its minute when it would have in go-ratelimit (within one 300 ms sub-window).
      await clock.advance(10_500); // 10:00:40.5: the 09:59:40.123 request and its 1,200 tokens are gone
      expect(await ml.stats('gemini-3-pro-preview')).toMatchObject({ rpm: 4, tpm: 1300 });
      await clock.advance(19_800); // 10:01:00.3: one minute and one sub-window after the 10:00:00 gpt-4o entries
      expect(await ml.stats('gpt-4o')).toMatchObject({ rpm: 3, tpm: 0 });
      // gemini's day started at 01:00:00 (998 requests) and holds the 2 made here at 10:00:30: all of it
      // ends exactly 24 h after day_start, as in go-ratelimit (a sliding day would hold the 2 until 10:00:30).
      clock.set(Date.parse('2026-02-20T00:59:59.999Z'));
      expect(await ml.decide('gemini-3-pro-preview')).toMatchObject({ allowed: false, code: 'rpd_exceeded' });
      clock.set(Date.parse('2026-02-20T01:00:00Z'));
      expect(await ml.decide('gemini-3-pro-preview')).toMatchObject({ allowed: true, code: 'ok' });
      expect((await ml.stats('gemini-3-pro-preview')).rpd).toBe(0);
      // my-model's day started at 10:00:00: it ends exactly 24 h later.
      clock.set(Date.parse('2026-02-20T09:59:59.999Z'));
      expect(await ml.decide('my-model')).toMatchObject({ allowed: false, code: 'rpd_exceeded' });
      clock.set(Date.parse('2026-02-20T10:00:00Z'));
      expect(await ml.decide('my-model')).toMatchObject({ allowed: true, code: 'ok' });
    });

    it('a corrupt file changes nothing', async () => {
      const clock = new FakeClock(NOW);
      const ml = new ModelLimiter({ backend: backend.make(), clock, providers: ['openai'] });
      await ml.recordUsage('gpt-4o', 10, 0);
      const before = await ml.allStats();
      await expect(importGoState(ml, CORRUPT)).rejects.toBeInstanceOf(GoStateFileError);
      expect(await ml.allStats()).toEqual(before);
      expect(ml.quota('gpt-4o')).toEqual({ maxRpm: 500, maxTpm: 30_000, maxRpd: 0 });
    });
  });
}
