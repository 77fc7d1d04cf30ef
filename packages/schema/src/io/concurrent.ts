// The one bounded-concurrency loop of the project (model calls, judge calls, probes): items are pulled lazily,
// at most `limit` calls run at once, the first error stops new work, and an abort stops new work too.

/** Options of {@link mapConcurrent} and {@link forEachConcurrent}. */
export interface ConcurrentOptions {
  /** Calls in flight at once (at least 1). @default 4 */
  concurrency?: number | undefined;
  /** Once aborted no new item starts; the call then rejects with `signal.reason`. */
  signal?: AbortSignal | undefined;
}

/**
 * Call `fn` on every item of a (possibly async, possibly endless) source with at most `opts.concurrency` calls
 * in flight. Items are pulled one at a time (async generators are never advanced concurrently), so memory stays
 * flat. When a call rejects, no new item starts; the returned promise waits for the calls in flight, then
 * rejects with the first error. When `opts.signal` aborts, no new item starts and it rejects with the abort reason
 * once the calls in flight have settled (items finished before the abort keep their side effects).
 */
export async function forEachConcurrent<T>(
  source: Iterable<T> | AsyncIterable<T>,
  fn: (item: T, index: number) => Promise<void>,
  opts: ConcurrentOptions = {},
): Promise<void> {
  const it: Iterator<T> | AsyncIterator<T> =
    Symbol.asyncIterator in source ? (source as AsyncIterable<T>)[Symbol.asyncIterator]() : (source as Iterable<T>)[Symbol.iterator]();
  let failed: { error: unknown } | undefined;
  let exhausted = false;
  let index = 0;
  // Pulls are serialised: async generators must not be advanced concurrently.
  let pulling: Promise<unknown> = Promise.resolve();
  const next = (): Promise<IteratorResult<T>> => {
    const p = pulling.then(() => it.next());
    pulling = p.catch(() => undefined);
    return p;
  };
  const worker = async (): Promise<void> => {
    for (;;) {
      if (failed || opts.signal?.aborted) return;
      const r = await next();
      if (r.done) {
        exhausted = true;
        return;
      }
      if (failed || opts.signal?.aborted) return; // stopped while this pull was waiting
      try {
        await fn(r.value, index++);
      } catch (error) {
        failed ??= { error };
        return;
      }
    }
  };
  // Let a generator source run its `finally` (close its file) when the loop stops early.
  const stop = async (): Promise<void> => {
    try {
      await (it as { return?: () => unknown }).return?.();
    } catch {
      // the error that stopped the loop is the one to report
    }
  };
  const n = Math.max(1, Math.floor(opts.concurrency ?? 4));
  await Promise.all(Array.from({ length: n }, worker).map((p) => p.catch((error: unknown) => void (failed ??= { error }))));
  if (failed) {
    if (!exhausted) await stop();
    throw failed.error;
  }
  // An abort that came after the last item was taken changes nothing: the work is complete.
  if (!exhausted) {
    await stop();
    opts.signal?.throwIfAborted();
  }
}

/**
 * {@link forEachConcurrent} that collects `fn`'s results in input order (not completion order).
 * @example const scores = await mapConcurrent(batches, 2, (b) => model.score(b), { signal });
 */
export async function mapConcurrent<T, R>(
  items: Iterable<T> | AsyncIterable<T>,
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
  opts: { signal?: AbortSignal | undefined } = {},
): Promise<R[]> {
  const out: R[] = [];
  await forEachConcurrent(
    items,
    async (item, i) => {
      out[i] = await fn(item, i);
    },
    { concurrency: limit, signal: opts.signal },
  );
  return out;
}
