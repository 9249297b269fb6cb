import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The checkout's top folder: compiled tests sit three levels below it (`dist/test/helpers`). */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** Real crash output of inference runners, shared by the team. Read only. */
export const fixturesDir = path.resolve(repoRoot, '..', 'shared', 'fixtures', 'runner-stderr');

/** Small runner scripts that the tests start as child processes. */
export const runnersDir = path.join(repoRoot, 'test', 'runners');

/** The compiled CLI entry point. */
export const cliPath = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'cli', 'main.js');
