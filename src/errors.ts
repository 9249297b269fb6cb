/**
 * Base class of every error this project raises on purpose.
 *
 * Callers decide on `code`, never on the message text, so a message can be
 * reworded without breaking a retry rule or a test.
 */
export class ExoError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ExoError';
    this.code = code;
  }
}

/** A command-line or configuration value that cannot be used. The CLI exits with status 2. */
export class UsageError extends ExoError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'UsageError';
  }
}

/** Returns the `code` of an error-like value, or undefined when it has none. */
export function errorCode(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error) {
    const code = (error as { code: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}

/** Returns a one-line description of any thrown value, for logs. */
export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const code = errorCode(error);
    return code === undefined ? error.message : `${error.message} (${code})`;
  }
  return String(error);
}
