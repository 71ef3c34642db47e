/**
 * The Celery JSON codec's two paths, in µs per call on a typical message body (protocol v2
 * [args, kwargs, embed]) next to native JSON. Standalone: `npx tsx bench/celery-json.ts`.
 */
import { parse as losslessParse } from "lossless-json";
import { dumpsCeleryJson, parseCeleryJson } from "../src/protocol/celery-json.js";

const EMBED = { callbacks: null, errbacks: null, chain: null, chord: null };
const typical = dumpsCeleryJson([
  [42, "user@example.com", { order: 1234, items: [1, 2, 3], price: 19.99 }],
  { retry: true, note: "é" },
  EMBED,
]);
const special = dumpsCeleryJson([
  [123456789012345678n, Number.NaN, { order: 1234, items: [1, 2, 3], price: 19.99 }],
  { retry: true, note: "é" },
  EMBED,
]);
const typicalValue = parseCeleryJson(typical);
const specialValue = parseCeleryJson(special);

function perCallUs(f: () => unknown, n = 200_000): number {
  for (let i = 0; i < n / 10; i++) f();
  const runs: number[] = [];
  for (let r = 0; r < 3; r++) {
    const start = performance.now();
    for (let i = 0; i < n; i++) f();
    runs.push(((performance.now() - start) * 1000) / n);
  }
  return runs.sort((a, b) => a - b)[1]!;
}

const rows: [string, () => unknown][] = [
  ["JSON.parse, typical body (baseline)", () => JSON.parse(typical)],
  ["parseCeleryJson, typical body (fast path)", () => parseCeleryJson(typical)],
  ["lossless-json parse, typical body (if always slow)", () => losslessParse(typical)],
  ["parseCeleryJson, bigint + NaN body (slow path)", () => parseCeleryJson(special)],
  ["JSON.stringify, typical body (baseline)", () => JSON.stringify(typicalValue)],
  ["dumpsCeleryJson, typical body (fast path)", () => dumpsCeleryJson(typicalValue)],
  ["dumpsCeleryJson, bigint + NaN body (slow path)", () => dumpsCeleryJson(specialValue)],
];
console.log(`typical body: ${typical.length} bytes; median of 3 runs`);
for (const [name, f] of rows) console.log(`${name.padEnd(52)} ${perCallUs(f).toFixed(2).padStart(7)} µs`);
