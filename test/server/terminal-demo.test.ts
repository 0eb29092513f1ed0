import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runDemo } from '../../src/cli/demo.js';

describe('ratekeeper demo (terminal only)', () => {
  it('delivers through a receiver that enforces the same quota: every message sent or dropped, no 429', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rk-demo-'));
    const lines: string[] = [];
    try {
      const report = await runDemo({
        db: join(dir, 'rk.db'),
        capacity: 4,
        window: '1s',
        messages: 9,
        out: (line) => lines.push(line),
      });
      expect(report.tooManyRequests).toBe(0);
      expect(report.queued).toBe(0);
      expect(report.delivered + report.dropped).toBe(9);
      expect(report.dropped).toBeGreaterThan(0); // optional messages past the quota are dropped
      expect(lines.at(-2)).toBe(
        `done: sent ${report.delivered}, queued 0, dropped ${report.dropped}, 429s received 0; quota ${lines
          .at(-2)!
          .replace(/.*quota /, '')}`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
