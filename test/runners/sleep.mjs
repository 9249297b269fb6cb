// A test runner that writes one line and stays up until it is signalled.
process.stderr.write('serving\n');
setInterval(() => undefined, 1000);
