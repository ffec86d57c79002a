/** How SQLite commits: `"full"` survives a power cut, `"normal"` only a process crash. */
export type Durability = "full" | "normal";
