// ephemail web app: routing, the top bar (live status, theme, help) and keyboard shortcuts.
//
// Routes: /                       the start page
//         /m/{address}            an inbox (?folder= an IMAP folder other than INBOX, ?q= a search)
//         /m/{address}/{id}       an inbox with one message open (same parameters)
//         /m/{address}/webhooks   an inbox with its webhooks panel open (same parameters)
//         /signin, /register      an account's sign-in and registration (?next= where to go then)
//         /account/mailboxes      the signed-in account's own mailboxes
//         /account/tokens         its API and IMAP tokens
//         /admin/{section}        users, domains, bans, stats (admins)
import { api, ApiError, describeError, loadCapabilities, normaliseFolder, urls } from "./lib/api.js";
import { AccountMenu } from "./lib/accountmenu.js";
import { h, isTypingTarget, replace } from "./lib/dom.js";
import { icon } from "./lib/icons.js";
import { prefs } from "./lib/prefs.js";
import { session } from "./lib/session.js";
import { copyText, toast, toggleHelp } from "./lib/ui.js";
import { refreshTimes } from "./lib/widgets.js";
import { MailboxesView, TokensView } from "./views/account.js";
import { AdminView } from "./views/admin.js";
import { RegisterView, SignInView } from "./views/auth.js";
import { HomeView } from "./views/home.js";
import { InboxView } from "./views/inbox.js";

const viewRoot = document.getElementById("view");
const centerSlot = document.getElementById("topbar-center");
const actionsSlot = document.getElementById("topbar-actions");
const darkQuery = window.matchMedia("(prefers-color-scheme: dark)");

const LIVE_TEXT = {
  live: ["Live", "Connected: new mail appears instantly."],
  connecting: ["Connecting…", "Connecting to live updates…"],
  offline: ["Offline", "Live updates are unavailable; checking for new mail every few seconds."],
};

// ----- top bar ----------------------------------------------------------------------------

const liveIndicator = h("span", { class: "live", hidden: true, role: "status", dataset: { liveStatus: "idle" } },
  h("span", { class: "live-dot", "aria-hidden": "true" }),
  h("span", { class: "live-label" }),
);
const themeButton = h("button", { type: "button", class: "btn btn-icon", dataset: { action: "theme" }, onclick: () => toggleTheme() });
const helpButton = h("button", { type: "button", class: "btn btn-icon", dataset: { action: "help" }, title: "Keyboard shortcuts (?)", "aria-label": "Keyboard shortcuts", onclick: () => toggleHelp() }, icon("keyboard"));
const accountMenu = new AccountMenu({ signOut: () => signOut() });
replace(actionsSlot, liveIndicator, themeButton, helpButton, accountMenu.el);

function setLive(status) {
  if (!status || status === "idle") {
    liveIndicator.hidden = true;
    liveIndicator.dataset.liveStatus = "idle";
    return;
  }
  const [label, title] = LIVE_TEXT[status] || LIVE_TEXT.connecting;
  liveIndicator.hidden = false;
  liveIndicator.dataset.liveStatus = status;
  liveIndicator.title = title;
  liveIndicator.lastElementChild.textContent = label;
}

function setCenter(node) {
  replace(centerSlot, node);
}

function setTitle(text) {
  document.title = text ? `${text} · ephemail` : "ephemail · disposable inboxes";
}

// ----- theme ------------------------------------------------------------------------------

function currentTheme() {
  return document.documentElement.dataset.theme === "dark" ? "dark" : "light";
}

function paintThemeButton() {
  const dark = currentTheme() === "dark";
  const label = dark ? "Switch to light theme (t)" : "Switch to dark theme (t)";
  themeButton.title = label;
  themeButton.setAttribute("aria-label", label);
  replace(themeButton, icon(dark ? "sun" : "moon"));
}

function toggleTheme() {
  const next = currentTheme() === "dark" ? "light" : "dark";
  document.documentElement.dataset.theme = next;
  prefs.setTheme(next);
  paintThemeButton();
}

darkQuery.addEventListener("change", () => {
  if (prefs.theme()) return; // the user chose explicitly
  document.documentElement.dataset.theme = darkQuery.matches ? "dark" : "light";
  paintThemeButton();
});

// ----- addresses --------------------------------------------------------------------------

const ADJECTIVES = ["amber", "brisk", "calm", "clever", "cosmic", "dusty", "eager", "fuzzy", "gentle", "golden", "hidden", "jolly", "lucky", "mellow", "misty", "nimble", "polar", "quiet", "rapid", "rusty", "silent", "snowy", "sunny", "swift", "tidy", "velvet", "witty", "zesty"];
const NOUNS = ["badger", "comet", "falcon", "fern", "gecko", "harbor", "heron", "koala", "lagoon", "lemur", "maple", "meadow", "otter", "panda", "pebble", "quokka", "raven", "river", "robin", "sparrow", "tiger", "tulip", "walrus", "willow", "yak", "zebra"];

function randomLocalPart() {
  const numbers = new Uint32Array(3);
  crypto.getRandomValues(numbers);
  return `${ADJECTIVES[numbers[0] % ADJECTIVES.length]}-${NOUNS[numbers[1] % NOUNS.length]}-${1000 + (numbers[2] % 9000)}`;
}

/** Create a fresh address (by the server when it can, else a random name) and open it. */
async function generate(domain = prefs.domain()) {
  let address = null;
  if (ctx.caps.create) {
    try {
      const created = await api.createMailbox(domain ? { domain } : {});
      address = created && typeof created.address === "string" ? created.address : null;
    } catch (err) {
      if (!(err instanceof ApiError && err.missingRoute)) throw err;
    }
  }
  if (!address) address = domain ? `${randomLocalPart()}@${domain}` : randomLocalPart();
  navigate(urls.inbox(address));
  const copied = address.includes("@") && (await copyText(address));
  toast(copied ? "New address ready and copied" : "New address ready", { kind: "success" });
  return address;
}

// ----- the account ------------------------------------------------------------------------

async function signOut() {
  try {
    await session.signOut();
  } catch (err) {
    toast(describeError(err), { kind: "error" });
    return;
  }
  toast("Signed out", { kind: "success" });
  const target = parseRoute();
  if (target.name === "inbox") mount(() => new InboxView(viewRoot, ctx, target.address, target));
  else navigate("/");
}

// ----- routing ----------------------------------------------------------------------------

const ctx = {
  caps: {},
  session,
  navigate,
  setCenter,
  setLive,
  setTitle,
  generate,
};
let current = null;

const VIEWS = {
  signin: SignInView,
  register: RegisterView,
  mailboxes: MailboxesView,
  tokens: TokensView,
  admin: AdminView,
};

function parseRoute() {
  const params = new URLSearchParams(window.location.search);
  const path = window.location.pathname.replace(/\/+$/, "") || "/";
  if (path === "/signin" || path === "/register") return { name: path.slice(1), next: params.get("next") };
  if (path === "/account" || path === "/account/mailboxes") return { name: "mailboxes" };
  if (path === "/account/tokens") return { name: "tokens" };
  const admin = path.match(/^\/admin(?:\/([a-z]+))?$/);
  if (admin) return { name: "admin", section: admin[1] || "users" };
  const q = params.get("q") || "";
  const folder = normaliseFolder(params.get("folder"));
  const match = window.location.pathname.match(/^\/m\/([^/]+)(?:\/([^/]+))?\/?$/);
  if (match) {
    try {
      // Message ids are ULIDs (upper case), so the panel's name cannot be taken for one.
      const panel = match[2] === "webhooks" ? "webhooks" : null;
      return {
        name: "inbox",
        address: decodeURIComponent(match[1]),
        messageId: match[2] && !panel ? decodeURIComponent(match[2]) : null,
        panel,
        q: q.trim(),
        folder,
      };
    } catch {
      return { name: "home" };
    }
  }
  return { name: "home" };
}

function sameAddress(a, b) {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  return x === y || (!y.includes("@") && x.startsWith(`${y}@`));
}

function mount(make) {
  if (current) current.unmount();
  current = null;
  setLive(null);
  setCenter(null);
  current = make();
}

function route() {
  const target = parseRoute();
  if (target.name === "inbox") {
    if (current instanceof InboxView && sameAddress(current.address, target.address)) {
      current.show(target);
      return;
    }
    mount(() => new InboxView(viewRoot, ctx, target.address, target));
    return;
  }
  const View = VIEWS[target.name];
  if (View) {
    if (current instanceof View) {
      current.show(target);
      return;
    }
    mount(() => new View(viewRoot, ctx, target));
    return;
  }
  if (!(current instanceof HomeView)) mount(() => new HomeView(viewRoot, ctx));
}

function navigate(url, { replace: replaceEntry = false } = {}) {
  const here = `${window.location.pathname}${window.location.search}`;
  if (url !== here) {
    if (replaceEntry) window.history.replaceState(null, "", url);
    else window.history.pushState(null, "", url);
  }
  route();
}

document.addEventListener("click", (e) => {
  const link = e.target instanceof Element ? e.target.closest("a[data-link]") : null;
  if (!link || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const url = new URL(link.href, window.location.href);
  if (url.origin !== window.location.origin) return;
  e.preventDefault();
  navigate(`${url.pathname}${url.search}`);
});
window.addEventListener("popstate", route);

// ----- keyboard ---------------------------------------------------------------------------

document.addEventListener("keydown", (e) => {
  if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey || e.isComposing) return;
  if (document.querySelector("dialog[open]")) return; // dialogs handle their own keys
  if (isTypingTarget(e.target)) {
    if (e.key === "Escape" && e.target instanceof HTMLElement) e.target.blur();
    return;
  }
  let handled = false;
  if (e.key === "?") {
    toggleHelp();
    handled = true;
  } else if (e.key === "t") {
    toggleTheme();
    handled = true;
  } else if (e.key === "g") {
    generate().catch((err) => toast(err.message || "Couldn't create an address.", { kind: "error" }));
    handled = true;
  } else if (current) {
    handled = current.handleKey(e);
  }
  if (handled) e.preventDefault();
});

// ----- start ------------------------------------------------------------------------------

async function start() {
  paintThemeButton();
  const caps = loadCapabilities();
  // Who is signed in is asked at once; pages that need to know wait for the answer.
  const known = caps.then((found) => {
    if (found.accounts) return session.refresh();
    session.supported = false;
    session.forget();
    return null;
  });
  ctx.caps = await caps;
  route();
  await known;
  setInterval(() => refreshTimes(), 30_000);
  document.documentElement.dataset.ready = "true";
}

start();
