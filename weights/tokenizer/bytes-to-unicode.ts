/**
 * CLIP's (and GPT-2's) byte-level alphabet: every byte gets a printable stand-in character so that a BPE
 * vocabulary can be stored as text with no whitespace or control characters in it. Printable Latin-1 bytes stand
 * for themselves; the other 68 bytes (controls, space, NBSP, soft hyphen…) are shifted to U+0100 onwards.
 */
export interface ByteAlphabet {
  /** byte value (0–255) → its stand-in character */
  readonly charOf: readonly string[];
  /** stand-in character → byte value */
  readonly byteOf: ReadonlyMap<string, number>;
  /** the 256 stand-ins in CLIP's vocabulary order (ids 0–255): printable bytes first, then the shifted ones */
  readonly symbols: readonly string[];
}

const build = (): ByteAlphabet => {
  const isPrintable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const order: number[] = [];
  const codes: number[] = [];
  for (let b = 0; b < 256; b++) if (isPrintable(b)) order.push(b), codes.push(b);
  // The shifted bytes follow in byte order, numbered from U+0100: this order is what fixes vocab ids 188–255.
  let shifted = 0;
  for (let b = 0; b < 256; b++) if (!isPrintable(b)) order.push(b), codes.push(256 + shifted++);
  const charOf = new Array<string>(256);
  const byteOf = new Map<string, number>();
  order.forEach((b, i) => {
    const c = String.fromCharCode(codes[i]);
    charOf[b] = c;
    byteOf.set(c, b);
  });
  return Object.freeze({ charOf, byteOf, symbols: order.map((b) => charOf[b]) });
};

const alphabet = build();

/**
 * The byte-level alphabet (built once; it is a constant of the format).
 * @example bytesToUnicode().charOf[0x20] // 'Ġ' — a space
 */
export const bytesToUnicode = (): ByteAlphabet => alphabet;

const utf8 = new TextEncoder();

/**
 * Text → its UTF-8 bytes spelled in the byte-level alphabet, the form BPE pieces are written in.
 * @example toByteLevel('é') // 'Ã©'
 */
export const toByteLevel = (text: string): string => {
  let out = '';
  for (const b of utf8.encode(text)) out += alphabet.charOf[b];
  return out;
};

/**
 * Byte-level spelling → the bytes it stands for; characters outside the alphabet are kept as their own UTF-8
 * (so a stray marker like `</w>` survives decoding instead of vanishing).
 * @example new TextDecoder().decode(fromByteLevel('Ã©')) // 'é'
 */
export const fromByteLevel = (text: string): Uint8Array => {
  const bytes: number[] = [];
  for (const c of text) {
    const b = alphabet.byteOf.get(c);
    if (b !== undefined) bytes.push(b);
    else bytes.push(...utf8.encode(c));
  }
  return Uint8Array.from(bytes);
};
