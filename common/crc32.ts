/**
 * CRC-32 as ISO 3309 / ITU-T V.42 define it (polynomial 0xEDB88320 reflected), the one PNG, zip and the run log
 * use: table-driven, one byte per step, register preset to all ones and inverted at the end. The table is built
 * once per module load.
 */
const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/**
 * CRC-32 of `bytes` (optionally a running `crc` from a previous call, to checksum pieces in sequence).
 *
 * @example
 * crc32(new TextEncoder().encode('IEND')); // 0xae426082
 */
export const crc32 = (bytes: Uint8Array, crc = 0): number => {
  let c = ~crc >>> 0;
  for (let i = 0; i < bytes.length; i++) c = TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
};
