// Preloaded into a benchmarked process (node --import): prints its peak RSS (worker threads included) on exit.
process.on("exit", () => {
  process.stderr.write(`\n${JSON.stringify({ peak_rss_mb: process.resourceUsage().maxRSS / 1024 })}\n`);
});
