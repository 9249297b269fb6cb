import { ExoError } from '../errors.js';

/**
 * Rejection of a request. The error handler sends it as `{error: code, message, field?}`
 * with `statusCode` and logs it at warn.
 */
export class RequestRejection extends ExoError {
  readonly statusCode: number;
  /** The request field at fault, such as `sha256`, when one is. */
  readonly field: string | undefined;

  constructor(statusCode: number, code: string, message: string, field?: string) {
    super(code, message);
    this.name = 'RequestRejection';
    this.statusCode = statusCode;
    this.field = field;
  }
}

/** The JSON body of every error response. */
export interface ErrorBody {
  error: string;
  message: string;
  field?: string;
}
