/** Where a command writes. Injected so commands run in-process in tests. */
export interface CliIO {
  out(text: string): void;
  err(text: string): void;
  /** Resolves when the process is asked to stop (SIGTERM/SIGINT); the second request means "now". */
  onStop(handler: (count: number) => void): () => void;
}

export const processIO: CliIO = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
  onStop(handler) {
    let count = 0;
    const h = () => handler(++count);
    process.on("SIGTERM", h);
    process.on("SIGINT", h);
    return () => {
      process.off("SIGTERM", h);
      process.off("SIGINT", h);
    };
  },
};

export function printJson(io: CliIO, value: unknown): void {
  io.out(`${JSON.stringify(value)}\n`);
}
