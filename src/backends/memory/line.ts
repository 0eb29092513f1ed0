/** Something that can stand in a {@link Line}. */
export interface InLine {
  inLine: boolean;
}

/**
 * An arrival-ordered line with O(1) append and removal from anywhere: removed entries are only marked,
 * skipped by iteration, and swept when they pile up. (A `Map` deleted from the front makes every
 * iteration from the start walk its holes: quadratic when draining a long queue.)
 */
export class Line<E extends InLine> {
  #items: E[] = [];
  #head = 0;
  #removed = 0;

  get size(): number {
    return this.#items.length - this.#head - this.#removed;
  }

  push(entry: E): void {
    entry.inLine = true;
    this.#items.push(entry);
  }

  remove(entry: E): void {
    if (!entry.inLine) return;
    entry.inLine = false;
    this.#removed++;
    while (this.#head < this.#items.length && !this.#items[this.#head]!.inLine) {
      this.#head++;
      this.#removed--;
    }
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    if (this.#removed > 1024 && this.#removed * 2 > this.#items.length - this.#head) {
      this.#items = this.#items.slice(this.#head).filter((e) => e.inLine);
      this.#head = 0;
      this.#removed = 0;
    }
  }

  /** Calls `visit` on each entry in order until it returns false. (A plain loop: no iterator objects.) */
  scan(visit: (entry: E) => boolean | undefined): void {
    const items = this.#items;
    for (let i = this.#head; i < items.length; i++) {
      const entry = items[i]!;
      if (entry.inLine && visit(entry) === false) return;
    }
  }

  /** The entries still in line, in order. */
  toArray(): E[] {
    const out: E[] = [];
    this.scan((entry) => {
      out.push(entry);
      return undefined;
    });
    return out;
  }
}
