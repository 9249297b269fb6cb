// A test runner that ignores SIGTERM, so only SIGKILL ends it. It writes "ready" to stderr once the handler is set.
process.on('SIGTERM', () => {
  process.stderr.write('SIGTERM ignored\n');
});
process.stderr.write('ready\n');
setInterval(() => undefined, 1000);
