/**
 * JSON as Python's json.dumps writes it with its defaults, which is what Celery and kombu
 * store: ", " and ": " separators and ensure_ascii (every character outside printable ASCII
 * escaped as \uXXXX, lower-case hex). Python reads compact JSON too; this exists so that a
 * value Ebb writes is byte for byte the value Celery would have written.
 *
 * One linear pass over JSON.stringify's output: outside strings, add the spaces; inside,
 * escape what Python escapes.
 */
export function pythonJsonDumps(value: unknown): string {
  const compact = JSON.stringify(value);
  if (compact === undefined) return "null";
  let out = "";
  let inString = false;
  let start = 0;
  for (let i = 0; i < compact.length; i++) {
    const c = compact.charCodeAt(i);
    if (inString) {
      if (c === 0x5c /* \ */) {
        i++; // JSON.stringify's own escapes (\" \\ \n \u00XX ...) are already Python's
      } else if (c === 0x22 /* " */) {
        inString = false;
      } else if (c > 0x7e) {
        out += `${compact.slice(start, i)}\\u${c.toString(16).padStart(4, "0")}`;
        start = i + 1;
      }
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x2c /* , */ || c === 0x3a /* : */) {
      out += `${compact.slice(start, i + 1)} `;
      start = i + 1;
    }
  }
  return out + compact.slice(start);
}
