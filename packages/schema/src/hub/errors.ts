import { SchemaError } from "../errors.js";
import { maskToken } from "./env.js";

/** A failed Hub call, with the repo and (when known) the HTTP status. The message never carries a token. */
export class HubError extends SchemaError {
  override readonly name: string = "HubError";
  constructor(
    message: string,
    readonly repo: string,
    readonly statusCode?: number,
    cause?: unknown,
    code = "HUB_ERROR",
  ) {
    super(maskToken(`${repo}: ${message}`), { code, cause });
  }
}

/** A gated or private repo was asked for without a token that may read it (HTTP 401/403). */
export class HubAuthError extends HubError {
  override readonly name = "HubAuthError";
  /** `repoNotFound`: the Hub said RepoNotFound, which it also answers for a private repo asked without a token. */
  constructor(repo: string, statusCode: number, hadToken: boolean, cause?: unknown, repoNotFound = false) {
    super(
      hadToken
        ? `HTTP ${statusCode}: the token given has no access to this repo (gated: accept its conditions on the Hub; private: use a token of an account that can read it)`
        : `HTTP ${statusCode}: ${repoNotFound ? "no such repo, or it is private or gated and no token was given; check the name, or" : "the repo is gated or private and no token was given;"} set HF_TOKEN or log in with \`huggingface-cli login\` (token file $HF_HOME/token)`,
      repo,
      statusCode,
      cause,
      "HUB_UNAUTHORIZED",
    );
  }
}

/** `HF_HUB_OFFLINE` is set and the cache lacks what was asked for; `missing` names it (a ref, a file or a snapshot). */
export class HubOfflineError extends HubError {
  override readonly name = "HubOfflineError";
  constructor(
    repo: string,
    readonly missing: string,
  ) {
    super(`HF_HUB_OFFLINE is set and the cache has no ${missing}; run once online (without HF_HUB_OFFLINE) to fetch it`, repo, undefined, undefined, "HUB_OFFLINE");
  }
}
