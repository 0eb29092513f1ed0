import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Checks `Authorization: Bearer <token>` against the configured tokens in constant time: each token is
 * hashed to a fixed length first, so neither its content nor its length shows in the timing, and every
 * configured token is compared (no early exit).
 */
export class BearerAuth {
  readonly #digests: readonly Buffer[];

  constructor(tokens: readonly string[]) {
    this.#digests = tokens.map(digest);
  }

  /** True when no tokens are configured (every request passes). */
  get open(): boolean {
    return this.#digests.length === 0;
  }

  /** Whether an `authorization` header value carries one of the tokens. */
  check(header: string | string[] | undefined): boolean {
    if (this.open) return true;
    const value = Array.isArray(header) ? header[0] : header;
    const match = typeof value === 'string' ? /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(value) : null;
    const given = digest(match?.[1] ?? '');
    let ok = false;
    for (const d of this.#digests) ok = timingSafeEqual(d, given) || ok;
    return ok && match !== null;
  }
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** Whether a listen host only accepts connections from this machine. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase();
  return h === 'localhost' || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h) || h === '::ffff:127.0.0.1';
}
