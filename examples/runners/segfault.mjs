// Fallback demo runner for machines without python3: it writes a line and dies by SIGSEGV.
process.stderr.write('warming up the kernel cache\nFatal error: Segmentation fault\n', () => {
  process.kill(process.pid, 'SIGSEGV');
});
