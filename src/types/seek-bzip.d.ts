/** The part of seek-bzip (MIT, no types of its own) that Ebb uses: decode a whole bzip2 buffer. */
declare module "seek-bzip" {
  const Bunzip: {
    /** Decompress `input`; `multistream` reads concatenated streams too (as Python's bz2.decompress does). */
    decode(input: Uint8Array, output?: undefined, multistream?: boolean): Buffer;
  };
  export default Bunzip;
}
