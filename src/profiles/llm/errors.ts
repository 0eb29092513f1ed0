import { RateKeeperError } from '../../core/errors.js';

/** A provider's HTTP API (e.g. Gemini `countTokens`) failed or answered something unusable. */
export class UpstreamError extends RateKeeperError {
  /** The HTTP status, or undefined when no answer came (network error, timeout). */
  readonly status: number | undefined;
  readonly url: string;
  constructor(url: string, message: string, status?: number, options?: { cause?: unknown }) {
    super('ERR_UPSTREAM', `${redact(url)}: ${message}`, options);
    this.status = status;
    this.url = redact(url);
  }
}

/** The URL without its query (`?key=` holds an API key). */
function redact(url: string): string {
  const i = url.indexOf('?');
  return i < 0 ? url : url.slice(0, i);
}
