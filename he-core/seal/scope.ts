/** Anything backed by WebAssembly memory that must be freed by hand. */
export interface Deletable {
  delete(): void;
  isDeleted(): boolean;
}

/**
 * Collects SEAL objects and frees them together: WebAssembly memory is not garbage collected.
 * Use with `using`-free code: `const scope = new SealScope(); try { ... } finally { scope.dispose(); }`.
 */
export class SealScope {
  private readonly items: Deletable[] = [];

  track<T extends Deletable>(item: T): T {
    this.items.push(item);
    return item;
  }

  /** Stops tracking an object whose ownership moves elsewhere. */
  release<T extends Deletable>(item: T): T {
    const i = this.items.lastIndexOf(item);
    if (i >= 0) this.items.splice(i, 1);
    return item;
  }

  dispose(): void {
    while (this.items.length > 0) {
      const item = this.items.pop()!;
      if (!item.isDeleted()) item.delete();
    }
  }
}

/** Runs `fn` with a scope that is always disposed afterwards. */
export function withScope<T>(fn: (scope: SealScope) => T): T {
  const scope = new SealScope();
  try {
    return fn(scope);
  } finally {
    scope.dispose();
  }
}

export function free(...items: (Deletable | null | undefined)[]): void {
  for (const item of items) if (item && !item.isDeleted()) item.delete();
}
