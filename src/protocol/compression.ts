import { brotliCompressSync, brotliDecompressSync, deflateSync, unzipSync } from "node:zlib";
import Bunzip from "seek-bzip";
import { ConfigError, ProtocolError } from "../errors.js";

/**
 * kombu's message compression (kombu/compression.py): the body is compressed after it is
 * serialized, and headers.compression names the method by its content type. The names a sender
 * gives and the header kombu writes:
 *
 *   zlib, gzip   application/x-gzip     zlib format (not a gzip file), despite the name
 *   bzip2, bzip  application/x-bz2
 *   brotli       application/x-brotli   Python needs the brotli module to read it
 *   lzma, xz     application/x-lzma     not read by Ebb: no maintained decoder without native code
 *   zstd         application/zstd       not read by Ebb: Node 20 has no zstd
 *
 * Ebb reads zlib/gzip, bzip2 and brotli, and writes zlib/gzip and brotli. It does not write bzip2:
 * seek-bzip only decompresses, and no small, maintained bzip2 compressor exists for Node.
 */
export type Compression = "zlib" | "gzip" | "brotli";

export const SENDABLE_COMPRESSIONS: readonly Compression[] = ["zlib", "gzip", "brotli"];

const GZIP = "application/x-gzip";
const BZ2 = "application/x-bz2";
const BROTLI = "application/x-brotli";

/** Every name kombu accepts for a method (its aliases and content type) → the content type. */
const CONTENT_TYPE: Record<string, string> = {
  zlib: GZIP,
  gzip: GZIP,
  [GZIP]: GZIP,
  bzip2: BZ2,
  bzip: BZ2,
  [BZ2]: BZ2,
  brotli: BROTLI,
  [BROTLI]: BROTLI,
  lzma: "application/x-lzma",
  xz: "application/x-lzma",
  "application/x-lzma": "application/x-lzma",
  zstd: "application/zstd",
  zstandard: "application/zstd",
  "application/zstd": "application/zstd",
};

const DECODERS: Record<string, (body: Buffer) => Buffer> = {
  // unzip, not inflate: it also reads a real gzip stream, should a sender write one.
  [GZIP]: (body) => unzipSync(body),
  [BZ2]: (body) => Bunzip.decode(body, undefined, true),
  [BROTLI]: (body) => brotliDecompressSync(body),
};

const ENCODERS: Record<string, (body: Buffer) => Buffer> = {
  [GZIP]: (body) => deflateSync(body),
  [BROTLI]: (body) => brotliCompressSync(body),
};

/**
 * The body of a message whose headers.compression is `header`. Throws ProtocolError naming the
 * method and what to do when Ebb cannot read it, or when the bytes do not decompress.
 */
export function decompressBody(body: Buffer, header: unknown, task: string): Buffer {
  const type = typeof header === "string" ? CONTENT_TYPE[header.toLowerCase()] : undefined;
  const decode = type === undefined ? undefined : DECODERS[type];
  if (!decode) {
    throw new ProtocolError(
      `Message for task "${task}" is compressed with ${JSON.stringify(header)}, which Ebb cannot decompress; send it uncompressed or with compression "zlib", "gzip", "bzip2" or "brotli"`,
    );
  }
  try {
    return decode(body);
  } catch (cause) {
    throw new ProtocolError(
      `Message for task "${task}" says headers.compression ${JSON.stringify(header)} but its body does not decompress as ${type} (${(cause as Error).message})`,
      { cause },
    );
  }
}

/** Compress a body for sending: the compressed bytes and the header kombu writes. Throws ConfigError for a method Ebb cannot write. */
export function compressBody(body: Buffer, compression: string): { body: Buffer; header: string } {
  const type = CONTENT_TYPE[compression.toLowerCase()];
  const encode = type === undefined ? undefined : ENCODERS[type];
  if (type === undefined || !encode) throw unsendable(compression);
  return { body: encode(body), header: type };
}

/** Check a compression option early (task options, call options, the CLI), with the error compressBody would give. */
export function checkCompression(compression: unknown, option = "compression"): string {
  if (typeof compression === "string") {
    const type = CONTENT_TYPE[compression.toLowerCase()];
    if (type !== undefined && ENCODERS[type]) return compression;
  }
  throw unsendable(compression, option);
}

function unsendable(compression: unknown, option = "compression"): ConfigError {
  const readOnly = typeof compression === "string" && CONTENT_TYPE[compression.toLowerCase()] === BZ2;
  return new ConfigError(
    `Expected ${option} to be one of ${SENDABLE_COMPRESSIONS.map((c) => `"${c}"`).join(", ")}, got ${JSON.stringify(compression)}${
      readOnly ? " (Ebb workers read bzip2 from Python senders, but Ebb cannot write it)" : ""
    }`,
  );
}
