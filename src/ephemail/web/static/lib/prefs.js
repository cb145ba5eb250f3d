// What the browser remembers between visits (localStorage; silently absent when blocked).

const KEYS = {
  theme: "ephemail.theme",
  recent: "ephemail.recent",
  domain: "ephemail.domain",
  tab: "ephemail.tab",
};
const MAX_RECENT = 8;

function read(key) {
  try {
    return window.localStorage.getItem(key);
  } catch {
    return null;
  }
}

function write(key, value) {
  try {
    if (value == null) window.localStorage.removeItem(key);
    else window.localStorage.setItem(key, value);
  } catch {
    // Private mode or storage disabled: the app still works, it just forgets.
  }
}

export const prefs = {
  /** "light", "dark", or null to follow the system. */
  theme() {
    const value = read(KEYS.theme);
    return value === "light" || value === "dark" ? value : null;
  },
  setTheme(value) {
    write(KEYS.theme, value);
  },

  /** Recently opened addresses, most recent first. */
  recent() {
    try {
      const list = JSON.parse(read(KEYS.recent) || "[]");
      return Array.isArray(list) ? list.filter((a) => typeof a === "string").slice(0, MAX_RECENT) : [];
    } catch {
      return [];
    }
  },
  remember(address) {
    const list = [address, ...this.recent().filter((a) => a !== address)].slice(0, MAX_RECENT);
    write(KEYS.recent, JSON.stringify(list));
  },
  forget(address) {
    write(KEYS.recent, JSON.stringify(this.recent().filter((a) => a !== address)));
  },

  domain() {
    return read(KEYS.domain);
  },
  setDomain(name) {
    write(KEYS.domain, name);
  },

  /** The message tab last chosen (html, text, headers, source). */
  tab() {
    return read(KEYS.tab);
  },
  setTab(name) {
    write(KEYS.tab, name);
  },
};
