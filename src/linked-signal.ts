/**
 * Waits that end when any of several signals aborts, without AbortSignal.any.
 *
 * On Node 20, AbortSignal.any([short, long]) records the combined signal on every source for
 * good (nodejs/node #55351): a wait made 20 times a second against a worker's long-lived stop
 * signal grows the heap by about 120 MB a day, and no listener count shows it. Here the link is
 * a plain once-listener on each source, removed when the wait ends.
 */

/**
 * Run `wait` with one signal that aborts as soon as any of `signals` does (already aborted
 * included); the listeners on the sources are removed when `wait` settles. With one source, that
 * source is passed as it is; with none, undefined.
 */
export async function withLinkedSignal<T>(
  signals: readonly (AbortSignal | undefined)[],
  wait: (signal: AbortSignal | undefined) => Promise<T>,
): Promise<T> {
  const sources = signals.filter((s): s is AbortSignal => s !== undefined);
  if (sources.length <= 1) return wait(sources[0]);
  const link = new AbortController();
  const abort = (): void => link.abort();
  const linked: AbortSignal[] = [];
  for (const source of sources) {
    if (source.aborted) {
      link.abort();
      break;
    }
    source.addEventListener("abort", abort, { once: true });
    linked.push(source);
  }
  try {
    return await wait(link.signal);
  } finally {
    for (const source of linked) source.removeEventListener("abort", abort);
  }
}
