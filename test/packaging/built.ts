/**
 * The built package (dist/) for tests that run it as a user would: built with `npm run build` when missing
 * or older than a source file. Test files run in parallel, so one build at a time (a lock directory).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const STAMP = join(ROOT, 'dist', 'index.js');
const LOCK = join(ROOT, '.tmp', 'build.lock');

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/** Whether dist/ exists and is at least as new as every file of src/ and package.json. */
export function isBuilt(): boolean {
  if (!existsSync(STAMP)) return false;
  const sources = Math.max(newestMtime(join(ROOT, 'src')), statSync(join(ROOT, 'package.json')).mtimeMs);
  return statSync(STAMP).mtimeMs >= sources;
}

/** Builds dist/ unless it is fresh. Synchronous: call it from a `beforeAll` with a generous timeout. */
export function ensureBuilt(timeoutMs = 180_000): void {
  if (isBuilt()) return;
  mkdirSync(join(ROOT, '.tmp'), { recursive: true });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      mkdirSync(LOCK);
      break;
    } catch {
      // Another test file is building; wait for it, then see whether its build is enough. A lock left
      // by a run that was killed is older than any build takes.
      const lockedAt = statSync(LOCK, { throwIfNoEntry: false })?.mtimeMs;
      if (lockedAt !== undefined && Date.now() - lockedAt > timeoutMs)
        rmSync(LOCK, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error(`gave up waiting for the build lock ${LOCK}`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
    }
  }
  try {
    if (!isBuilt()) {
      execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'pipe', timeout: timeoutMs });
    }
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
}
