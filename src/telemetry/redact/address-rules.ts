import net from 'node:net';

import { patternRule, type Located, type Rule } from './rule.js';

/** Maximum length of an e-mail local part (RFC 5321). */
const MAX_LOCAL_PART_LENGTH = 64;

/**
 * Domain after the `@`: up to 16 labels of at most 63 characters, then a top-level
 * domain of letters. The bound keeps a finding shorter than the window overlap.
 */
const EMAIL_DOMAIN = /(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.){1,16}[A-Za-z]{2,24}(?![A-Za-z0-9-]|\.[A-Za-z0-9])/y;

function isLocalPartChar(code: number): boolean {
  return (
    (code >= 0x61 && code <= 0x7a) || // a-z
    (code >= 0x41 && code <= 0x5a) || // A-Z
    (code >= 0x30 && code <= 0x39) || // 0-9
    code === 0x2e || code === 0x5f || code === 0x25 || code === 0x2b || code === 0x2d // . _ % + -
  );
}

/**
 * E-mail addresses, found from each `@` outwards. A pattern that started with the
 * local part would be tried at every letter of the text and rescan it each time.
 * `torch@2.1` and `@decorators` are kept: the domain must end in letters and the
 * local part must not be empty.
 */
export const emailRule: Rule = {
  kind: 'email',
  find(text, collector) {
    for (let at = text.indexOf('@'); at !== -1 && at < collector.limit + MAX_LOCAL_PART_LENGTH; at = text.indexOf('@', at + 1)) {
      let start = at;
      while (start > 0 && at - start < MAX_LOCAL_PART_LENGTH && isLocalPartChar(text.charCodeAt(start - 1))) start--;
      while (start < at && text.charCodeAt(start) === 0x2e) start++;
      if (start === at) continue;

      EMAIL_DOMAIN.lastIndex = at + 1;
      const domain = EMAIL_DOMAIN.exec(text);
      if (domain === null) continue;
      collector.offer(start, at + 1 + domain[0].length, 'email');
    }
  },
};

const OCTET = '(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])';

/**
 * Dotted-quad IPv4 addresses with valid octets and no leading zeros. Longer dotted
 * runs (`1.2.3.4.5`) and quads right after a letter (`v2.1.0.3`) are kept. A bare
 * four-part version such as `2.1.0.3` cannot be distinguished from an address, so it
 * is redacted.
 */
export const ipv4Rule = patternRule({
  kind: 'ipv4',
  pattern: new RegExp(String.raw`(?<![0-9A-Za-z_.])${OCTET}(?:\.${OCTET}){3}(?![0-9A-Za-z_]|\.[0-9])`, 'g'),
});

/**
 * An IPv6 candidate starting at the given position: a run of hex digits, colons and
 * dots that has two colons near its start and either `::` or eight groups, with an
 * optional zone and brackets. `(` or `<` right after rules out C++ calls and templates
 * such as `c10::add(`. The candidate is then checked by `isIpv6Address`.
 */
const IPV6_CANDIDATE =
  /(?<![0-9A-Za-z_:.])(\[)?(?=[0-9A-Fa-f]{0,4}:[0-9A-Fa-f]{0,4}:)(?=[0-9A-Fa-f:.]*::|(?:[0-9A-Fa-f]{1,4}:){7})([0-9A-Fa-f:.]{2,45})(%[0-9A-Za-z_.~-]{1,32})?(?:(\])|(?![0-9A-Za-z_:(<]))/y;

/** Maximum length of a textual IPv6 address, reached with an embedded IPv4 address. */
const MAX_IPV6_LENGTH = 45;

function isAddressChar(code: number): boolean {
  return (
    (code >= 0x30 && code <= 0x3a) || // 0-9 and :
    (code >= 0x61 && code <= 0x66) || // a-f
    (code >= 0x41 && code <= 0x46) || // A-F
    code === 0x2e // .
  );
}

/**
 * Returns true for a valid IPv6 address that is not also a likely scope expression:
 * a compressed form needs a digit (so `a::b` and `dead::beef` are kept) and two
 * groups, except the loopback `::1`.
 */
export function isIpv6Address(candidate: string): boolean {
  if (!net.isIPv6(candidate)) return false;
  if (!candidate.includes('::')) return true;
  if (!/[0-9]/.test(candidate)) return false;
  if (candidate === '::1') return true;
  return candidate.split(':').filter((group) => group.length > 0).length >= 2;
}

/** Returns the candidate without a trailing sentence period or a trailing single colon, when that makes it valid. */
function trimIpv6(core: string): string | undefined {
  let trimmed = core.replace(/\.+$/, '');
  if (isIpv6Address(trimmed)) return trimmed;
  if (trimmed.endsWith(':') && !trimmed.endsWith('::')) {
    trimmed = trimmed.slice(0, -1);
    if (isIpv6Address(trimmed)) return trimmed;
  }
  return undefined;
}

/** Matches IPV6_CANDIDATE at `start` and returns the part to replace, with `[...]` when both brackets are there. */
function locateIpv6(text: string, start: number): Located | undefined {
  IPV6_CANDIDATE.lastIndex = start;
  const match = IPV6_CANDIDATE.exec(text);
  if (match === null) return undefined;

  const [, open, core, zone, close] = match;
  const address = trimIpv6(core!);
  if (address === undefined) return undefined;

  const coreStart = match.index + (open === undefined ? 0 : 1);
  const trimmedAway = address.length !== core!.length;
  if (open !== undefined && close !== undefined && !trimmedAway) {
    return { start: match.index, end: match.index + match[0].length };
  }
  const end = coreStart + address.length + (trimmedAway || zone === undefined ? 0 : zone.length);
  return { start: coreStart, end };
}

/**
 * Trigger for an IPv6 address: `::`, or six colons with hex groups between them (eight
 * groups, or six and an IPv4 address). Both alternatives start with a colon, which
 * irregexp finds fast, and times such as `12:21:04` fail at once.
 */
const IPV6_TRIGGER = /::|:(?:[0-9A-Fa-f]{1,4}:){5}/g;

/**
 * IPv6 addresses, compressed or full. From each trigger the scan goes back to the
 * start of the run of address characters, tries IPV6_CANDIDATE there once and goes on
 * after the run. IPV6_CANDIDATE tried at every position ran at 0.13 GB/s on log text
 * (Node 20.20, AMD EPYC VM), because hex letters are everywhere.
 */
export const ipv6Rule: Rule = {
  kind: 'ipv6',
  find(text, collector) {
    IPV6_TRIGGER.lastIndex = 0;
    for (let trigger = IPV6_TRIGGER.exec(text); trigger !== null; trigger = IPV6_TRIGGER.exec(text)) {
      const colon = trigger.index;
      if (colon >= collector.limit + MAX_IPV6_LENGTH) break;

      let runStart = colon;
      while (runStart > 0 && colon - runStart <= MAX_IPV6_LENGTH && isAddressChar(text.charCodeAt(runStart - 1))) runStart--;
      let runEnd = colon + 1;
      while (runEnd < text.length && isAddressChar(text.charCodeAt(runEnd))) runEnd++;

      // `[::1]` is tried with its bracket first, then without it, as in `x[::1]` after a name.
      let located = runStart > 0 && text.charCodeAt(runStart - 1) === 0x5b ? locateIpv6(text, runStart - 1) : undefined;
      located ??= locateIpv6(text, runStart);
      if (located !== undefined) collector.offer(located.start, located.end, 'ipv6');

      IPV6_TRIGGER.lastIndex = runEnd;
    }
  },
};
