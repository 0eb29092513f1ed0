import { InvalidArgumentError } from '../core/errors.js';

const REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/**
 * Replaces `${VAR}` (and `${VAR:-fallback}`) in every string of a parsed config with the environment's
 * value. Returns a copy.
 * @throws InvalidArgumentError naming the key path when a variable without a fallback is not set.
 */
export function interpolateEnv(value: unknown, env: NodeJS.ProcessEnv, path: string[] = []): unknown {
  if (typeof value === 'string') {
    return value.replace(REFERENCE, (_match, name: string, fallback: string | undefined) => {
      const found = env[name];
      if (found !== undefined) return found;
      if (fallback !== undefined) return fallback;
      throw new InvalidArgumentError(
        path.join('.') || 'config',
        `environment variable ${name} to be set (referenced as \${${name}})`,
        undefined,
      );
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolateEnv(v, env, [...path, String(i)]));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(value)) out[key] = interpolateEnv(v, env, [...path, key]);
    return out;
  }
  return value;
}
