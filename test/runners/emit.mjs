// A test runner: writes the bytes of EMIT_STDERR_HEX to stderr (and EMIT_STDOUT to stdout),
// then ends as EMIT_END specifies: "exit:N" or "signal:NAME". Plain JavaScript so it runs uncompiled.
const stderrBytes = Buffer.from(process.env.EMIT_STDERR_HEX ?? '', 'hex');
const stdoutText = process.env.EMIT_STDOUT ?? '';
const end = process.env.EMIT_END ?? 'exit:0';

function finish() {
  const [how, value] = end.split(':');
  if (how === 'signal') {
    process.kill(process.pid, value);
    // Some signals are handled by Node; keep the process alive until the signal lands.
    setTimeout(() => process.exit(99), 5000);
    return;
  }
  process.exit(Number(value));
}

if (stdoutText !== '') process.stdout.write(stdoutText);
if (stderrBytes.length > 0) {
  process.stderr.write(stderrBytes, finish);
} else {
  finish();
}
