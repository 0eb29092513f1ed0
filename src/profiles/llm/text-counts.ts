/**
 * Token counts of texts already counted, per count function, bounded. A chat sends its whole history on
 * every call, so most of a call's messages were counted on an earlier one; looking a text up (hashing it)
 * costs a fraction of tokenizing it again. Counting is deterministic, so a count found here is the count.
 *
 * Two generations approximate "least recently used" without bookkeeping per hit: texts go into the young
 * map; when it is full (entries or characters) it becomes the old one and the previous old one is dropped;
 * a text found in the old map moves back into the young one. At most `2 × maxChars` characters are held.
 */
export class TextCounts {
  readonly #maxEntries: number;
  readonly #maxChars: number;
  #young = new Map<string, number>();
  #old = new Map<string, number>();
  #youngChars = 0;

  constructor(maxEntries = 4096, maxChars = 1 << 20) {
    this.#maxEntries = maxEntries;
    this.#maxChars = maxChars;
  }

  /** The count of `text`: remembered, or `count(text)` (remembered unless longer than a quarter of the bound). */
  count(text: string, count: (text: string) => number): number {
    const young = this.#young.get(text);
    if (young !== undefined) return young;
    const old = this.#old.get(text);
    const n = old ?? count(text);
    if (text.length <= this.#maxChars >> 2) {
      if (this.#young.size >= this.#maxEntries || this.#youngChars + text.length > this.#maxChars) {
        this.#old = this.#young;
        this.#young = new Map();
        this.#youngChars = 0;
      }
      this.#young.set(text, n);
      this.#youngChars += text.length;
    }
    return n;
  }

  /** Texts held, and their characters (for tests of the bound). */
  get size(): { entries: number; chars: number } {
    let chars = this.#youngChars;
    for (const text of this.#old.keys()) chars += text.length;
    return { entries: this.#young.size + this.#old.size, chars };
  }
}
