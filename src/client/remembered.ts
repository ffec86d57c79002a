import type { KeyValueStorage } from "./types.js";

/** The browser's localStorage when there is one that works, else a map in memory. */
export function defaultStorage(): KeyValueStorage {
  try {
    const storage = (globalThis as { localStorage?: KeyValueStorage }).localStorage;
    if (storage) {
      const probe = "outlast:probe";
      storage.setItem(probe, "1");
      storage.removeItem(probe);
      return storage;
    }
  } catch {
    // Private mode or a sandboxed frame: fall through to memory.
  }
  const map = new Map<string, string>();
  return {
    getItem: (key) => map.get(key) ?? null,
    setItem: (key, value) => void map.set(key, value),
    removeItem: (key) => void map.delete(key),
  };
}

/** Unfinished task ids of this user, kept across page reloads. */
export class RememberedTasks {
  private readonly key: string;

  constructor(
    private readonly storage: KeyValueStorage,
    baseUrl: string,
  ) {
    this.key = `outlast:tasks:${baseUrl}`;
  }

  list(): string[] {
    try {
      const parsed: unknown = JSON.parse(this.storage.getItem(this.key) ?? "[]");
      return Array.isArray(parsed) ? parsed.filter((x): x is string => typeof x === "string") : [];
    } catch {
      return [];
    }
  }

  add(id: string): void {
    const ids = this.list();
    if (!ids.includes(id)) this.save([...ids, id].slice(-100));
  }

  remove(id: string): void {
    const ids = this.list();
    if (ids.includes(id)) this.save(ids.filter((x) => x !== id));
  }

  private save(ids: string[]): void {
    try {
      if (ids.length === 0) this.storage.removeItem(this.key);
      else this.storage.setItem(this.key, JSON.stringify(ids));
    } catch {
      // Storage full or refused: remembering is a convenience, never a failure.
    }
  }
}
