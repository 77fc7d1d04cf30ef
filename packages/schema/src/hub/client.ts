import { hubEnv } from "./env.js";
import { HubAuthError, HubError } from "./errors.js";
import type { HubRepoType } from "./uri.js";

/** Where and how to reach the Hub; every field left out comes from the environment (see {@link hubEnv}). */
export interface HubClientOptions {
  /** Hub endpoint. @default HF_ENDPOINT, else https://huggingface.co */
  endpoint?: string | undefined;
  /** Token (`hf_…`), sent as a Bearer header to the endpoint only. @default HF_TOKEN, else $HF_HOME/token */
  token?: string | undefined;
  /** Cache root. @default HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub */
  cacheDir?: string | undefined;
  /** Answer from the cache alone. @default HF_HUB_OFFLINE */
  offline?: boolean | undefined;
  /** Custom fetch (proxies, tests). */
  fetch?: typeof fetch | undefined;
  /** The environment to read defaults from. @default process.env */
  env?: NodeJS.ProcessEnv | undefined;
}

/** Options resolved against the environment. */
export interface HubClient {
  endpoint: string;
  token: string | undefined;
  cacheDir: string;
  offline: boolean;
  fetch: typeof fetch;
}

export function hubClient(o: HubClientOptions = {}): HubClient {
  const env = hubEnv(o.env);
  return {
    endpoint: (o.endpoint ?? env.endpoint).replace(/\/+$/, ""),
    token: o.token ?? env.token,
    cacheDir: o.cacheDir ?? env.cacheDir,
    offline: o.offline ?? env.offline,
    fetch: o.fetch ?? globalThis.fetch,
  };
}

export const authHeaders = (c: HubClient): Record<string, string> => (c.token ? { authorization: `Bearer ${c.token}` } : {});

/** `datasets/` for datasets, "" for models: the prefix of resolve URLs. */
export const urlPrefix = (type: HubRepoType): string => (type === "dataset" ? "datasets/" : "");

export const encodePath = (p: string): string => p.split("/").map(encodeURIComponent).join("/");

/** Turn a failed response (or a status from @huggingface/hub's HubApiError) into a typed error naming what failed. */
export function hubHttpError(repo: string, status: number, errorCode: string | null | undefined, what: string, hadToken: boolean, cause?: unknown): HubError {
  if (status === 401 || status === 403) return new HubAuthError(repo, status, hadToken, cause, errorCode === "RepoNotFound");
  if (status === 404) {
    if (errorCode === "RevisionNotFound") return new HubError(`${what}: revision not found (HTTP 404)`, repo, 404, cause, "HUB_NOT_FOUND");
    if (errorCode === "RepoNotFound") return new HubError(`repo not found (HTTP 404)`, repo, 404, cause, "HUB_NOT_FOUND");
    return new HubError(`${what}: not found (HTTP 404)`, repo, 404, cause, "HUB_NOT_FOUND");
  }
  return new HubError(`${what}: HTTP ${status}`, repo, status, cause);
}

/** Map anything a Hub call threw into a {@link HubError}. */
export function asHubError(err: unknown, repo: string, what: string, c: HubClient): HubError {
  if (err instanceof HubError) return err;
  const status = (err as { statusCode?: unknown }).statusCode;
  if (typeof status === "number") {
    const data = (err as { data?: { error?: string } }).data;
    return hubHttpError(repo, status, /revision/i.test(String(data?.error ?? "")) ? "RevisionNotFound" : undefined, what, Boolean(c.token), err);
  }
  return new HubError(`${what}: ${(err as Error)?.message ?? String(err)}`, repo, undefined, err);
}
