/** Shared settings of the telemetry HTTP requests. */

/** Maximum response body read from the API or the upload host, in bytes. Past it, axios aborts the response. */
export const MAX_RESPONSE_BYTES = 64 * 1024;

/** Names the client without any detail about the machine. */
export const HTTP_USER_AGENT = 'exo-runner-telemetry';

/** Returns a header of an axios response as one string, or undefined. */
export function readHeader(headers: unknown, name: string): string | undefined {
  if (typeof headers !== 'object' || headers === null) return undefined;
  const value = (headers as Record<string, unknown>)[name];
  if (Array.isArray(value)) return value.map(String).join(', ');
  return value === undefined || value === null ? undefined : String(value);
}

/** Returns `: <start of the body>` for an error message, on one line and at most 200 characters, or '' for an empty body. */
export function responseSnippet(body: unknown): string {
  if (typeof body !== 'string') return '';
  const text = body.replace(/[\x00-\x1f\x7f]+/g, ' ').trim();
  if (text === '') return '';
  return `: ${text.length > 200 ? `${text.slice(0, 200)}...` : text}`;
}
