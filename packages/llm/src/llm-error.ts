/** Why a call failed, in a form code can switch on. */
export type LlmErrorCode =
  /** The server answered with a non-2xx status (see `status`). */
  | "HTTP_ERROR"
  /** No answer within the per-request timeout. */
  | "TIMEOUT"
  /** The connection failed or was reset before an answer arrived. */
  | "CONNECTION"
  /** The caller's AbortSignal fired. */
  | "ABORTED"
  /** The server answered 2xx with a body that is not the expected JSON. */
  | "BAD_RESPONSE"
  /** A streamed answer broke off before its end. */
  | "STREAM_INTERRUPTED"
  /** A call would pass a configured budget (calls, tokens or cost). */
  | "BUDGET_EXCEEDED";

export interface LlmErrorInit {
  code: LlmErrorCode;
  url: string;
  status?: number | undefined;
  requestId?: string | undefined;
  /** HTTP attempts made, retries included. */
  attempts?: number | undefined;
  retryable?: boolean | undefined;
  cause?: unknown;
}

/**
 * A failed model call. Carries the endpoint URL, HTTP status and server request id; never the API key (messages
 * are scrubbed of it before they get here).
 */
export class LlmError extends Error {
  override readonly name = "LlmError";
  readonly code: LlmErrorCode;
  readonly url: string;
  readonly status: number | undefined;
  readonly requestId: string | undefined;
  readonly attempts: number;
  /** True when the same request could succeed later (429, 5xx, timeouts, connection errors). */
  readonly retryable: boolean;
  constructor(message: string, init: LlmErrorInit) {
    super(message, init.cause !== undefined ? { cause: init.cause } : undefined);
    this.code = init.code;
    this.url = init.url;
    this.status = init.status;
    this.requestId = init.requestId;
    this.attempts = init.attempts ?? 1;
    this.retryable = init.retryable ?? false;
  }
}

/** True for an {@link LlmError}, also across duplicated package copies. */
export function isLlmError(e: unknown): e is LlmError {
  return e instanceof Error && e.name === "LlmError";
}
