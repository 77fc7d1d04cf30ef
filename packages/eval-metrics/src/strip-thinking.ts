/**
 * Remove reasoning blocks: `<think>…</think>` (any number), or everything up to a lone `</think>` (chat
 * templates that open the block in the prompt). An unclosed `<think>` keeps its content, since a truncated
 * reasoning trace is then all the answer there is.
 */
export function stripThinking(text: string): string {
  let s = text.replace(/<think>[\s\S]*?<\/think>/gi, "");
  const close = s.search(/<\/think>/i);
  if (close >= 0) s = s.slice(close + "</think>".length);
  return s.replace(/<\/?think>/gi, "");
}
