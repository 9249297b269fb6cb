import { isMainThread } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';

/** Returns true when the module at `moduleUrl` is the script node was started with, in the main thread. */
export function isMainModule(moduleUrl: string): boolean {
  const script = process.argv[1];
  return isMainThread && script !== undefined && moduleUrl === pathToFileURL(script).href;
}
