const STORAGE_KEY = "outlast.adminKey";

/**
 * The admin key: from `#key=…` (the URL the server prints), which is then
 * taken out of the address bar, else from this tab's session storage.
 */
export function initialKey(): string | null {
  const match = /^#key=([^&]+)/.exec(location.hash);
  if (match) {
    const key = decodeURIComponent(match[1]!);
    saveKey(key);
    history.replaceState(null, "", `${location.pathname}${location.search}#/`);
    return key;
  }
  try {
    return sessionStorage.getItem(STORAGE_KEY);
  } catch {
    return null;
  }
}

export function saveKey(key: string): void {
  try {
    sessionStorage.setItem(STORAGE_KEY, key);
  } catch {
    // Private mode without storage: the key lives until the tab reloads.
  }
}

export function forgetKey(): void {
  try {
    sessionStorage.removeItem(STORAGE_KEY);
  } catch {
    // Nothing stored.
  }
}

/** The API's base: the page is served at `<base>/dashboard`. */
export function apiBase(): string {
  return location.pathname.replace(/\/dashboard\/?$/, "");
}
