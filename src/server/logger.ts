import { type DestinationStream, type Logger, pino } from 'pino';

/**
 * Paths pino censors, whatever logs them: credentials and message payloads never reach a log line. The
 * service logs neither on purpose (requests are logged as method, route, status and time); this is the
 * safety net for error objects and plugins.
 */
export const REDACT_PATHS: readonly string[] = [
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
  'req.headers.authorization',
  'req.headers.cookie',
  'token',
  'tokens',
  '*.token',
  '*.tokens',
  'auth',
  '*.auth',
  'payload',
  '*.payload',
  'body',
  '*.body',
  'messages',
  '*.messages',
  'headers["x-api-key"]',
  '*.headers["x-api-key"]',
];

/** The service's pino logger, JSON lines to `destination` (default stdout). */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'ratekeeper' },
      redact: { paths: [...REDACT_PATHS], censor: '[redacted]' },
    },
    destination,
  );
}
