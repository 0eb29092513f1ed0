import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/core/errors.js';
import { loadConfig, parseConfig, resolveConfig, splitListen } from '../../src/server/config.js';

const dirs: string[] = [];
function file(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'rk-config-'));
  dirs.push(dir);
  const path = join(dir, 'ratekeeper.yaml');
  writeFileSync(path, text);
  return path;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function failure(fn: () => unknown): InvalidArgumentError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidArgumentError);
    return error as InvalidArgumentError;
  }
  throw new Error('expected an InvalidArgumentError');
}

describe('config', () => {
  it('no file: SQLite in the working directory on 127.0.0.1:8080', () => {
    const config = loadConfig(undefined, { env: {} });
    expect(config.listen).toBe('127.0.0.1:8080');
    expect(config.backend).toBe('sqlite:./ratekeeper.db');
    expect(config.auth.tokens).toEqual([]);
    expect(config.bodyLimit).toBe(1024 * 1024);
    expect(config.manager.capacity).toBe(600);
    expect(config.targets).toEqual({});
  });

  it('reads the YAML of SPEC §6 with $VAR references from the environment', () => {
    const path = file(`
listen: 127.0.0.1:9999
backend: memory
auth:
  tokens: [change-me]
manager:
  capacity: 600
  duration: 1m
  scopes: { "chat:*": { limit: 1, window: 1s } }
targets:
  hooks:
    url: http://127.0.0.1:9000/deliver
    headers: { x-api-key: "\${HOOKS_KEY}", x-other: "\${MISSING:-fallback}" }
    limits: [{ limit: 30, window: 1s }]
    overflow:
      - { url: http://127.0.0.1:9001/deliver, limits: [{ limit: 30, window: 1s }] }
`);
    const config = loadConfig(path, { env: { HOOKS_KEY: 'secret-key' } });
    expect(config.listen).toBe('127.0.0.1:9999');
    expect(config.auth.tokens).toEqual(['change-me']);
    expect(config.manager.scopes).toEqual({ 'chat:*': { limit: 1, window: '1s' } });
    const hooks = config.targets.hooks!;
    expect(hooks.headers).toEqual({ 'x-api-key': 'secret-key', 'x-other': 'fallback' });
    expect(hooks.method).toBe('POST');
    expect(hooks.timeout).toBe('10s');
    expect(hooks.overflow).toHaveLength(1);
    expect(hooks.overflow[0]!.limits).toEqual([{ limit: 30, window: '1s' }]);
  });

  it('manager.retry takes every key of the manager option, maxRetryAfter included', () => {
    const path = file(`
manager:
  retry: { maxAttempts: 3, maxRetryAfter: 7, baseDelay: 2s, maxDelay: 30s }
`);
    expect(loadConfig(path, { env: {} }).manager.retry).toEqual({
      maxAttempts: 3,
      maxRetryAfter: 7,
      baseDelay: '2s',
      maxDelay: '30s',
    });
  });

  it('a missing variable names the key path', () => {
    const error = failure(() => resolveConfig({ targets: { hooks: { url: `http://x/${'$'}{NOPE}` } } }, {}));
    expect(error.field).toBe('targets.hooks.url');
    expect(error.message).toContain('NOPE');
  });

  it('RATEKEEPER_* variables override the file', () => {
    const path = file('listen: 127.0.0.1:1234\nbackend: memory\nmanager: { capacity: 5 }\n');
    const config = loadConfig(path, {
      env: {
        RATEKEEPER_LISTEN: '127.0.0.1:4321',
        RATEKEEPER_TOKENS: 'a, b',
        RATEKEEPER_CAPACITY: '42',
        RATEKEEPER_BACKEND: 'sqlite:/tmp/x.db',
      },
    });
    expect(config.listen).toBe('127.0.0.1:4321');
    expect(config.auth.tokens).toEqual(['a', 'b']);
    expect(config.manager.capacity).toBe(42);
    expect(config.backend).toBe('sqlite:/tmp/x.db');
  });

  it.each([
    [{ listen: 'nowhere' }, 'listen', 'host:port'],
    [{ backend: 'mongo://x' }, 'backend', 'sqlite:PATH'],
    [{ manager: { capacity: -1 } }, 'manager.capacity', ''],
    [{ manager: { duration: 'soon' } }, 'manager.duration', 'duration'],
    [{ targets: { hooks: { url: 'ftp://x' } } }, 'targets.hooks.url', 'http'],
    [
      { targets: { hooks: { url: 'http://x', limits: [{ limit: 'many', window: '1s' }] } } },
      'targets.hooks.limits.0.limit',
      'number',
    ],
    [
      {
        targets: {
          hooks: { url: 'http://x', overflow: [{ url: 'http://y', limits: [{ limit: 1, window: 'x' }] }] },
        },
      },
      'targets.hooks.overflow.0.limits.0.window',
      'duration',
    ],
    [{ auth: { tokens: 'abc' } }, 'auth.tokens', 'array'],
    [{ typo: 1 }, 'config', 'typo'],
  ])('%j → an error naming %s', (input, field, expected) => {
    const error = failure(() => parseConfig(input));
    expect(error.field).toBe(field);
    expect(error.message).toContain(expected);
  });

  it('a broken file names the file', () => {
    const path = file('listen: [unclosed\n');
    const error = failure(() => loadConfig(path, { env: {} }));
    expect(error.message).toContain(path);
    expect(failure(() => loadConfig('/nonexistent/rk.yaml', { env: {} })).field).toBe('config');
  });

  it('splits host:port, IPv6 included', () => {
    expect(splitListen('127.0.0.1:80')).toEqual({ host: '127.0.0.1', port: 80 });
    expect(splitListen('[::1]:0')).toEqual({ host: '::1', port: 0 });
    expect(splitListen('0.0.0.0:99999')).toBeUndefined();
  });
});
