/** Where Ebb says what it is doing. Lines, not objects, so that a human and grep can read them. */
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export function streamLogger(write: (line: string) => void = (l) => process.stderr.write(l)): Logger {
  const line = (level: string) => (message: string) => write(`[${new Date().toISOString()}] ${level} ${message}\n`);
  return { info: line("INFO"), warn: line("WARN"), error: line("ERROR") };
}

export const silentLogger: Logger = { info() {}, warn() {}, error() {} };
