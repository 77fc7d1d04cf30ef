export interface ConcurrentOptions {
  /** Tasks in flight at once. @default 4 */
  concurrency?: number;
  signal?: AbortSignal | undefined;
}

/**
 * Run `fn` over every item of a (possibly async, possibly endless) source with at most `concurrency` calls in
 * flight, pulling items lazily so memory stays flat. Resolves when all are done; rejects with the first error
 * (items already started still finish, no new ones start).
 */
export async function forEachConcurrent<T>(
  source: Iterable<T> | AsyncIterable<T>,
  fn: (item: T) => Promise<void>,
  opts: ConcurrentOptions = {},
): Promise<void> {
  const it: Iterator<T> | AsyncIterator<T> =
    Symbol.asyncIterator in source ? (source as AsyncIterable<T>)[Symbol.asyncIterator]() : (source as Iterable<T>)[Symbol.iterator]();
  let failed: { error: unknown } | undefined;
  // Pulls are serialised: async generators must not be advanced concurrently.
  let pulling: Promise<unknown> = Promise.resolve();
  const next = (): Promise<IteratorResult<T>> => {
    const p = pulling.then(() => it.next());
    pulling = p.catch(() => undefined);
    return p;
  };
  const worker = async () => {
    for (;;) {
      if (failed || opts.signal?.aborted) return;
      const r = await next();
      if (r.done) return;
      try {
        await fn(r.value);
      } catch (error) {
        failed ??= { error };
        return;
      }
    }
  };
  const n = Math.max(1, Math.floor(opts.concurrency ?? 4));
  await Promise.all(Array.from({ length: n }, worker).map((p) => p.catch((error: unknown) => void (failed ??= { error }))));
  if (failed) throw failed.error;
  opts.signal?.throwIfAborted();
}
