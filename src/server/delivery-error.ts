/**
 * A delivery to a target failed. It carries what `classifyFailure` reads: the HTTP `status` (absent for
 * network errors and timeouts) and `permanent` (a 4xx other than 408, 425 and 429: retrying cannot help).
 */
export class DeliveryError extends Error {
  readonly code = 'ERR_DELIVERY' as const;
  readonly status: number | undefined;
  readonly permanent: boolean;
  /** `target:NAME#INDEX` of the endpoint that failed. */
  readonly endpoint: string;
  constructor(endpoint: string, message: string, options: { status?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DeliveryError';
    this.endpoint = endpoint;
    this.status = options.status;
    const s = options.status;
    this.permanent = s !== undefined && s >= 400 && s < 500 && s !== 408 && s !== 425 && s !== 429;
  }
}

/** Type guard for {@link DeliveryError}. */
export function isDeliveryError(error: unknown): error is DeliveryError {
  return error instanceof DeliveryError;
}
