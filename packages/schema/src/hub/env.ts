import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import path from "node:path";

/** The Hub settings huggingface_hub reads from the environment, resolved the same way. */
export interface HubEnv {
  /** `HF_ENDPOINT`, without a trailing slash. @default "https://huggingface.co" */
  endpoint: string;
  /** `HF_TOKEN`, else the token file (`HF_TOKEN_PATH`, else `$HF_HOME/token`, as `huggingface-cli login` writes it). */
  token: string | undefined;
  /** `HF_HOME`, else `$XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface`. */
  home: string;
  /** `HF_HUB_CACHE`, else `$HF_HOME/hub`. */
  cacheDir: string;
  /** `HF_HUB_OFFLINE` set to 1/true/yes/on: answer from the cache alone. */
  offline: boolean;
}

const TRUE = new Set(["1", "true", "yes", "on"]);

/** Read the Hub environment (`HF_TOKEN`, `HF_ENDPOINT`, `HF_HOME`, `HF_HUB_CACHE`, `HF_HUB_OFFLINE`) as huggingface_hub does. */
export function hubEnv(env: NodeJS.ProcessEnv = process.env): HubEnv {
  const home = env.HF_HOME || path.join(env.XDG_CACHE_HOME || path.join(homedir(), ".cache"), "huggingface");
  const cacheDir = env.HF_HUB_CACHE || env.HUGGINGFACE_HUB_CACHE || path.join(home, "hub");
  const endpoint = (env.HF_ENDPOINT || "https://huggingface.co").replace(/\/+$/, "");
  let token = env.HF_TOKEN || env.HUGGING_FACE_HUB_TOKEN || undefined;
  if (!token) {
    try {
      token = readFileSync(env.HF_TOKEN_PATH || path.join(home, "token"), "utf8").trim() || undefined;
    } catch {
      token = undefined;
    }
  }
  return { endpoint, token: token?.trim() || undefined, home, cacheDir, offline: TRUE.has((env.HF_HUB_OFFLINE ?? "").trim().toLowerCase()) };
}

/** Replace every occurrence of `token` (and any `hf_…` token shape) in `text`, so errors and logs never carry one. */
export function maskToken(text: string, token?: string): string {
  let out = token && token.length >= 4 ? text.split(token).join("hf_***") : text;
  out = out.replace(/\bhf_[A-Za-z0-9]{6,}\b/g, "hf_***");
  return out;
}
