import type { RedactionKind } from './kinds.js';
import { distinctiveNames, isUsableHomeDir } from './options.js';
import { escapeLiteral, latin1OfUtf8, patternRule, type Rule } from './rule.js';

/**
 * Characters of a user name in a path. Bytes from 0x80 up are the UTF-8 bytes of
 * non-ASCII names seen as latin1, so they belong to the name.
 */
const PATH_NAME = String.raw`[^/\\\x00-\x20"'<>|:;,()[\]{}=*?\x60]+`;
const PATH_NAME_TAIL = new RegExp(`${PATH_NAME.slice(0, -1)}*`, 'y');

/**
 * A Windows profile name may contain spaces (`C:\Users\Jane Doe\AppData`): up to 64
 * characters are taken as the name when a path separator follows them.
 */
const WINDOWS_PATH_NAME = String.raw`(?:[^/\\\x00-\x1f"'<>|:*?]{1,64}?(?=[\\/])|${PATH_NAME})`;

/** Folders under `/Users` and `C:\Users` that belong to no person. */
const SHARED_PROFILES = String.raw`(?!(?:Shared|Public|Default|All Users|Default User)(?![^\\/\s"']))`;

/**
 * `/home/NAME` and `/Users/NAME`, only as written, since `/users/42` is a common URL
 * path. Anything before the match stays, so `/var/home/NAME/x` becomes `/var~/x`.
 */
const UNIX_HOME = new RegExp(String.raw`/(?:home|Users)/${SHARED_PROFILES}${PATH_NAME}`, 'g');

/**
 * `C:\Users\NAME`, `C:/Users/NAME`, `\Users\NAME` and `C:\\Users\\NAME` (escaped in
 * JSON or a repr), `users` in any case. The pattern starts with the literal and looks
 * back for the drive: it ran at 3.7 GB/s on log text, against 0.14 GB/s when the drive
 * letter came first and was tried at every letter (Node 20.20, AMD EPYC VM).
 */
const WINDOWS_HOME = new RegExp(
  String.raw`users(?<=((?:[A-Za-z]:(?:\\{1,2}|/)|\\{1,2}))users)(?:\\{1,2}|/)${SHARED_PROFILES}${WINDOWS_PATH_NAME}`,
  'dgi',
);

/** Word characters for name boundaries, including the bytes of UTF-8 letters. */
const NAME_CHAR = String.raw`[A-Za-z0-9_\x80-\xff]`;

/** Builds the home directory rule: the given directories first, then the standard layouts. */
export function homeDirRule(homeDirs: readonly string[]): Rule {
  const literals = [...new Set(homeDirs.filter(isUsableHomeDir).map((dir) => latin1OfUtf8(dir.replace(/[\\/]+$/, ''))))]
    .sort((a, b) => b.length - a.length)
    .map((dir) => `${escapeLiteral(dir)}(?!${NAME_CHAR}|-)`);

  const parts: Rule[] = [];
  if (literals.length > 0) parts.push(patternRule({ kind: 'home_dir', pattern: new RegExp(literals.join('|'), 'g'), tail: PATH_NAME_TAIL }));
  // Windows before Unix, so that `C:/Users/NAME` is replaced from its drive letter on.
  parts.push(
    patternRule({
      kind: 'home_dir',
      pattern: WINDOWS_HOME,
      locate: (match) => ({ start: match.indices![1]![0], end: match.index + match[0].length, tail: PATH_NAME_TAIL }),
    }),
  );
  parts.push(patternRule({ kind: 'home_dir', pattern: UNIX_HOME, tail: PATH_NAME_TAIL }));

  return {
    kind: 'home_dir',
    find(text, collector) {
      for (const part of parts) part.find(text, collector);
    },
  };
}

/**
 * Builds a rule that replaces `names` wherever they stand as whole words, ASCII
 * letters in any case. Returns undefined when no name is distinctive enough.
 */
export function nameRule(kind: RedactionKind, names: readonly string[]): Rule | undefined {
  const latin1Names = distinctiveNames(names)
    .map(latin1OfUtf8)
    .sort((a, b) => b.length - a.length);
  if (latin1Names.length === 0) return undefined;

  const alternatives = latin1Names.map((name) => escapeLiteral(name, true));
  const pattern = new RegExp(`(?<!${NAME_CHAR})(?:${alternatives.join('|')})(?!${NAME_CHAR})`, 'g');

  return patternRule({ kind, pattern });
}
