import { groupRange, patternRule, type Rule } from './rule.js';

// Tails: the characters a finding may go on with after a window cut, consumed
// silently at the start of the next window because the marker is already written.
const ALNUM_TAIL = /[A-Za-z0-9]*/y;
const WORD_TAIL = /[A-Za-z0-9_]*/y;
const BASE64URL_TAIL = /[A-Za-z0-9_-]*/y;
const JWT_TAIL = /[A-Za-z0-9_.-]*/y;
const BASE64_TAIL = /[A-Za-z0-9/+=]*/y;
const HEADER_VALUE_TAIL = /[^\s"',;]*/y;
const BEARER_TAIL = /[A-Za-z0-9._~+/=-]*/y;
const ASSIGNED_VALUE_TAIL = /[^\s"',;&)}\]]*/y;

/**
 * `scheme://userinfo@host`: the userinfo, up to the last `@` within 512 characters, so
 * a password with an unencoded `@` is covered too. The host stays readable.
 */
const urlCredentials = patternRule({
  kind: 'url_credentials',
  pattern: /:\/\/([^\s/?#"'<>[\]\\]{1,512})@(?=[A-Za-z0-9[])/dg,
  locate: (match) => toLocated(groupRange(match, 1)),
});

/**
 * A JSON Web Token: base64url parts starting with `eyJ` (`{"` encoded). The header is
 * bounded so that a match is recognised within the overlap of two windows; the rest
 * may be any length.
 */
const jwt = patternRule({
  kind: 'jwt',
  pattern: /(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{4,1024}\.eyJ[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+){0,3}/g,
  tail: JWT_TAIL,
});

/** Hugging Face user access tokens: `hf_` and 34 letters today; 30 or more accepted. */
const huggingFaceToken = patternRule({
  kind: 'hf_token',
  pattern: /(?<![A-Za-z0-9_])hf_[A-Za-z0-9]{30,}/g,
  tail: ALNUM_TAIL,
});

/** GitHub personal, OAuth, user-to-server, server-to-server and refresh tokens, and fine-grained PATs. */
const githubToken = patternRule({
  kind: 'github_token',
  pattern: /(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})/g,
  tail: WORD_TAIL,
});

/**
 * OpenAI-style secret keys (`sk-…`, `sk-proj-…`, `sk-ant-…`). A digit is required so
 * that long hyphenated identifiers starting with `sk-` are kept.
 */
const openaiKey = patternRule({
  kind: 'openai_key',
  pattern: /(?<![A-Za-z0-9_-])sk-[A-Za-z0-9_-]{20,}/g,
  locate: (match) => (/[0-9]/.test(match[0]) ? wholeMatch(match, BASE64URL_TAIL) : undefined),
});

/** AWS access key ids: long-term (`AKIA`) and temporary (`ASIA`), 20 characters in all. */
const awsAccessKeyId = patternRule({
  kind: 'aws_access_key_id',
  pattern: /(?<![A-Za-z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])/g,
});

/** The value of `aws_secret_access_key=…`, `AWS_SECRET_ACCESS_KEY: …` or `"SecretAccessKey": "…"`. */
const awsSecretAccessKey = patternRule({
  kind: 'aws_secret_access_key',
  pattern: /secret_?access_?key["']?[ \t]{0,8}[:=][ \t]{0,8}["']?([A-Za-z0-9/+=]{16,})/dgi,
  locate: (match) => toLocated(groupRange(match, 1), BASE64_TAIL),
});

/**
 * The credentials of an `Authorization` or `Proxy-Authorization` header or field. The
 * scheme (`Bearer`, `Basic`, ...) stays readable.
 */
const authorizationHeader = patternRule({
  kind: 'authorization',
  pattern:
    /(?<![A-Za-z0-9_])authorization["']?[ \t]{0,8}[:=][ \t]{0,8}["']?(?:(?:bearer|basic|token|digest|bot|jwt|apikey|negotiate|ntlm)[ \t]{1,8})?([^\s"',;]+)/dgi,
  locate: (match) => toLocated(groupRange(match, 1), HEADER_VALUE_TAIL),
});

/**
 * A token after `Bearer` anywhere else. The token needs a digit or 24 characters,
 * so prose such as "bearer authentication" is kept.
 */
const bearerToken = patternRule({
  kind: 'authorization',
  pattern: /(?<![A-Za-z0-9_])bearer[ \t]{1,8}([A-Za-z0-9._~+/=-]{8,})/dgi,
  locate: (match) => {
    const token = match[1]!;
    if (!/[0-9]/.test(token) && token.length < 24) return undefined;
    return toLocated(groupRange(match, 1), BEARER_TAIL);
  },
});

/**
 * Names whose assigned value is a secret. A key matches when it ends with one of
 * them (`password`, `HF_TOKEN`, `accessToken`, `x-api-key`) but not when more letters
 * follow (`max_tokens`, `tokenizer`, `secretary`).
 */
const SECRET_NAME = String.raw`(?:pass(?:word|wd|phrase)|secret|token|api[_-]?key)`;

/**
 * `name=value`, `name: value`, `"name": "value"` and `'name': 'value'`. A quoted value
 * is replaced up to its closing quote (within 512 characters), a bare value up to
 * whitespace or punctuation that ends values in URLs, JSON and Python reprs.
 */
const secretAssignment = patternRule({
  kind: 'secret',
  pattern: new RegExp(
    String.raw`(${SECRET_NAME})["']?[ \t]{0,8}[:=][ \t]{0,8}(?:"([^"\r\n]{1,512})"|'([^'\r\n]{1,512})'|["']?([^\s"',;&)}\]]+))`,
    'dgi',
  ),
  locate: (match) => {
    let group = 4;
    if (match[2] !== undefined) group = 2;
    else if (match[3] !== undefined) group = 3;
    if (!isSecretValue(match[1]!, match[group]!)) return undefined;
    return toLocated(groupRange(match, group), group === 4 ? ASSIGNED_VALUE_TAIL : undefined);
  },
});

/** Command-line options such as `--hf-token VALUE` or `--password VALUE`, separated by a space. */
const secretOption = patternRule({
  kind: 'secret',
  pattern: new RegExp(String.raw`--[A-Za-z0-9_-]{0,40}?(${SECRET_NAME})[ \t]{1,8}(?!-)([^\s"',;&]+)`, 'dgi'),
  locate: (match) => (isSecretValue(match[1]!, match[2]!) ? toLocated(groupRange(match, 2), ASSIGNED_VALUE_TAIL) : undefined),
});

/**
 * Values that carry no secret and help the reader: empty-ish literals, values already
 * masked, `<placeholders>` and special tokens such as `<pad>`, and counts after a
 * name ending in `token` (`max_new_token=20`).
 */
function isSecretValue(name: string, value: string): boolean {
  if (/^(?:none|null|nil|true|false|undefined|\*+)$/i.test(value)) return false;
  if (/^<[^<>]*>$/.test(value)) return false;
  if (name.toLowerCase() === 'token' && /^[0-9]+$/.test(value)) return false;
  return true;
}

function wholeMatch(match: RegExpExecArray, tail?: RegExp) {
  return { start: match.index, end: match.index + match[0].length, tail };
}

function toLocated(range: [number, number] | undefined, tail?: RegExp) {
  return range === undefined ? undefined : { start: range[0], end: range[1], tail };
}

/** The token and key rules, in priority order. Private key blocks are handled apart, since they span lines. */
export const SECRET_RULES: readonly Rule[] = [
  urlCredentials,
  jwt,
  huggingFaceToken,
  githubToken,
  openaiKey,
  awsAccessKeyId,
  awsSecretAccessKey,
  authorizationHeader,
  bearerToken,
  secretAssignment,
  secretOption,
];
