/** Something that can stand in a {@link Line}. */
export interface InLine {
  inLine: boolean;
  /** Which push put it in line (set by the line): a slot left by an earlier stay is not it. */
  lineSlot?: number;
}

/**
 * An arrival-ordered line with O(1) append and removal from anywhere: removed entries are only marked,
 * skipped by iteration, and swept when they pile up. (A `Map` deleted from the front makes every
 * iteration from the start walk its holes: quadratic when draining a long queue.)
 */
export class Line<E extends InLine> {
  #items: E[] = [];
  /** `#slots[i]`: the push number of `#items[i]`; the slot is live while its entry's `lineSlot` matches. */
  #slots: number[] = [];
  #pushes = 0;
  #head = 0;
  #removed = 0;

  get size(): number {
    return this.#items.length - this.#head - this.#removed;
  }

  push(entry: E): void {
    // An entry removed and pushed again (a replayed dead letter) may still sit in its old slot, only
    // marked: it now counts at its new place only.
    if (entry.inLine) this.remove(entry);
    entry.inLine = true;
    entry.lineSlot = ++this.#pushes;
    this.#items.push(entry);
    this.#slots.push(entry.lineSlot);
  }

  #live(i: number): boolean {
    const entry = this.#items[i]!;
    return entry.inLine && entry.lineSlot === this.#slots[i];
  }

  remove(entry: E): void {
    if (!entry.inLine) return;
    entry.inLine = false;
    this.#removed++;
    while (this.#head < this.#items.length && !this.#live(this.#head)) {
      this.#head++;
      this.#removed--;
    }
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#slots = this.#slots.slice(this.#head);
      this.#head = 0;
    }
    if (this.#removed > 1024 && this.#removed * 2 > this.#items.length - this.#head) {
      const items: E[] = [];
      const slots: number[] = [];
      for (let i = this.#head; i < this.#items.length; i++) {
        if (!this.#live(i)) continue;
        items.push(this.#items[i]!);
        slots.push(this.#slots[i]!);
      }
      this.#items = items;
      this.#slots = slots;
      this.#head = 0;
      this.#removed = 0;
    }
  }

  /** Calls `visit` on each entry in order until it returns false. (A plain loop: no iterator objects.) */
  scan(visit: (entry: E) => boolean | undefined): void {
    const items = this.#items;
    const slots = this.#slots;
    for (let i = this.#head; i < items.length; i++) {
      const entry = items[i]!;
      if (entry.inLine && entry.lineSlot === slots[i] && visit(entry) === false) return;
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
