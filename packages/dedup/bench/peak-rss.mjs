// Preloaded into a benchmarked process (node --import): prints its peak RSS and CPU seconds (worker threads
// included) on exit.
process.on("exit", () => {
  const u = process.resourceUsage();
  process.stderr.write(`\n${JSON.stringify({ peak_rss_mb: u.maxRSS / 1024, cpu_s: (u.userCPUTime + u.systemCPUTime) / 1e6 })}\n`);
});
