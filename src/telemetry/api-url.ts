import net from 'node:net';

import { ExoError, UsageError } from '../errors.js';

export const DEFAULT_TELEMETRY_API_URL = 'https://telemetry.exolabs.net/';

const TRANSPORT_RULE =
  'expected an https URL, or http to a loopback host (127.0.0.0/8, ::1, localhost), without user name, password, query or fragment';

/**
 * Returns true for hosts that never leave the machine: `localhost`, 127.0.0.0/8,
 * `::1` and IPv4-mapped 127.0.0.0/8. `hostname` is `URL.hostname`, so IPv6
 * arrives in brackets and IPv4 already normalized (`127.1` becomes `127.0.0.1`).
 */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/\.$/, '');
  if (host === 'localhost') return true;

  if (net.isIPv4(host)) return host.startsWith('127.');

  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (!net.isIPv6(bare)) return false;
  if (bare === '::1') return true;

  // URL normalizes ::ffff:127.0.0.1 to ::ffff:7f00:1, so the first hex group after ffff contains the 127.
  const mapped = /^::ffff:([0-9a-f]{1,4}):[0-9a-f]{1,4}$/.exec(bare);
  return mapped !== null && parseInt(mapped[1], 16) >> 8 === 127;
}

/** Returns the reason `url` breaks the transport rule, or undefined when it follows it. */
function transportViolation(url: URL): string | undefined {
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return `scheme ${url.protocol} is not http or https`;
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) return `http is allowed only to a loopback host, not ${url.hostname}`;
  if (url.username !== '' || url.password !== '') return 'it carries a user name or password';
  return undefined;
}

/**
 * Returns the telemetry API base: `flag`, else `EXO_TELEMETRY_API_URL`, else
 * DEFAULT_TELEMETRY_API_URL, with trailing slashes removed so that paths can be
 * appended. Throws UsageError ERR_INVALID_TELEMETRY_API_URL (the CLI exits 2)
 * before anything is sent when the value breaks the transport rule.
 */
export function resolveApiUrl(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  let value = DEFAULT_TELEMETRY_API_URL;
  let source = 'the default';
  if (flag !== undefined) {
    value = flag;
    source = '--telemetry-api-url';
  } else if (env.EXO_TELEMETRY_API_URL !== undefined && env.EXO_TELEMETRY_API_URL !== '') {
    value = env.EXO_TELEMETRY_API_URL;
    source = 'EXO_TELEMETRY_API_URL';
  }

  const fail = (reason: string): never => {
    throw new UsageError(
      'ERR_INVALID_TELEMETRY_API_URL',
      `invalid telemetry API URL ${JSON.stringify(hidePassword(value))} from ${source}: ${reason}; ${TRANSPORT_RULE}. Fix --telemetry-api-url or EXO_TELEMETRY_API_URL`,
    );
  };

  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return fail('it is not a URL');
  }
  const violation = transportViolation(url);
  if (violation !== undefined) return fail(violation);
  if (url.search !== '' || url.hash !== '') return fail('it has a query or fragment');

  return url.href.replace(/\/+$/, '');
}

/**
 * Parses an `uploadUrl` returned by a presign and checks it against the same
 * transport rule as the API URL (a query string is allowed: presigned URLs carry
 * their signature there). Throws ExoError ERR_INVALID_UPLOAD_URL.
 */
export function checkUploadUrl(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ExoError('ERR_INVALID_UPLOAD_URL', 'invalid uploadUrl in the presign response: it is not a URL; the telemetry server must return an absolute URL');
  }
  const violation = transportViolation(parsed);
  if (violation !== undefined) {
    // Only the origin goes into the message: the query of a presigned URL is a credential.
    throw new ExoError(
      'ERR_INVALID_UPLOAD_URL',
      `invalid uploadUrl ${parsed.origin}${parsed.pathname} in the presign response: ${violation}; the telemetry server must return an https URL (or http to a loopback host)`,
    );
  }
  return parsed;
}

/** Returns `url` without its query and fragment, the only form of a presigned URL that may be logged. */
export function redactUrlForLog(url: URL | string): string {
  try {
    const parsed = typeof url === 'string' ? new URL(url) : url;
    return `${parsed.origin}${parsed.pathname}`;
  } catch {
    return '(invalid URL)';
  }
}

/** Replaces the password of a `scheme://user:password@host` value, so an error message never repeats it. */
function hidePassword(value: string): string {
  return value.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/@:\s]*):[^/@\s]*@/i, '$1:***@');
}
