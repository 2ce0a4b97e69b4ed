// The console's shell: sign-in, the navigation, and a hash router (#/map, #/project/<id>, …) that loads
// each page's module on first use. Every page calls only the public API (api.js) with the person's token.

import { get, whenSignedOut } from "./api.js";
import { h, clear, label } from "./dom.js";
import { accessToken, hasRole, signOut, who } from "./session.js";

const PAGES = {
  login: () => import("./pages/login.js"),
  map: () => import("./pages/battlemap.js"),
  dispatch: () => import("./pages/dispatch.js"),
  showcase: () => import("./pages/showcase.js"),
  project: () => import("./pages/project.js"),
  desk: () => import("./pages/desk.js"),
  matter: () => import("./pages/matter.js"),
  report: () => import("./pages/report.js"),
  inbox: () => import("./pages/inbox.js"),
  evaluations: () => import("./pages/evaluations.js"),
  meetings: () => import("./pages/meetings.js"),
  cards: () => import("./pages/cards.js"),
  rounds: () => import("./pages/rounds.js"),
  accounts: () => import("./pages/accounts.js"),
};

const NAV = [
  ["map", "挂图作战"],
  ["dispatch", "日调度"],
  ["showcase", "比晒亮"],
  ["desk", "我的工作台"],
  ["report", "反映问题", ["unit_user", "major_projects_office", "admin"]],
  ["meetings", "会议议定事项"],
  ["cards", "红牌"],
  ["rounds", "督查", ["supervision_office", "major_projects_office", "top_leader", "line_leader", "admin"]],
  ["inbox", "消息"],
  ["evaluations", "考评与通报"],
  ["accounts", "账号管理", ["major_projects_office", "admin"]],
];

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const whoEl = document.getElementById("who");
const menu = document.getElementById("menu");
let cleanup = null;
let unreadTimer = null;

export function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function parse() {
  // "#/cards/<id>?state=issued": the page, its arguments; a page reads its own query from location.hash.
  const path = location.hash.replace(/^#\/?/, "").split("?")[0];
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { page: parts[0] || "map", args: parts.slice(1) };
}

function drawShell() {
  const me = who();
  nav.hidden = !me;
  whoEl.hidden = !me;
  menu.hidden = !me;
  if (!me) return;
  const { page } = parse();
  // On a phone the navigation folds behind one button (it does not fit 390 px): closed after each move.
  const current = NAV.find(([key]) => key === page);
  menu.textContent = current ? `菜单 · ${current[1]}` : "菜单";
  menu.setAttribute("aria-expanded", "false");
  nav.classList.remove("open");
  clear(
    nav,
    h(
      "ul",
      {},
      NAV.filter(([, , roles]) => !roles || hasRole(...roles)).map(([key, text]) =>
        h(
          "li",
          {},
          h("a", { href: `#/${key}`, "aria-current": key === page ? "page" : null },
            text, key === "inbox" ? h("span", { class: "badge", id: "unread", hidden: true }) : null),
        ),
      ),
    ),
  );
  const roles = me.roles.map((r) => label("role", r)).join("、");
  clear(
    whoEl,
    h("span", { class: "me" }, me.name || "已登录", h("small", {}, roles)),
    h("button", { type: "button", class: "link", onclick: async () => { await signOut(); go("#/login"); } }, "退出"),
  );
}

export async function refreshUnread() {
  const badge = document.getElementById("unread");
  if (!badge || !who()) return;
  try {
    const data = await get("/api/v1/inbox/unread-count");
    const n = data.unread ?? data.count ?? 0;
    badge.textContent = String(n);
    badge.hidden = n === 0;
    badge.setAttribute("aria-label", `${n} 条未读`);
  } catch {
    badge.hidden = true;
  }
}

async function route() {
  const { page, args } = parse();
  if (cleanup) {
    cleanup();
    cleanup = null;
  }
  const signedIn = page === "login" ? false : !!(await accessToken());
  const target = signedIn ? page : "login";
  drawShell();
  const load = PAGES[target] || PAGES.map;
  // Each visit renders into its own view: a page still loading when the person moves on writes into a
  // view no longer shown, never over the next page.
  const view = h("div", { class: "view", dataset: { page: target } }, h("p", { class: "muted" }, "正在加载…"));
  clear(main, view);
  try {
    const module = await load();
    const done = (await module.render(view, args, { go, refreshUnread })) || null;
    view.dataset.ready = "true"; // the page has drawn what it read (tests and the benchmark wait for it)
    refreshUnread(); // after the page: the badge never holds up what the screen shows
    if (view.isConnected) cleanup = done;
    else if (done) done();
  } catch (error) {
    clear(view, h("p", { class: "notice error", role: "alert" }, error.message || String(error)));
  }
  if (document.activeElement === document.body) main.focus({ preventScroll: true });
}

menu.addEventListener("click", () => {
  const open = menu.getAttribute("aria-expanded") !== "true";
  menu.setAttribute("aria-expanded", String(open));
  nav.classList.toggle("open", open);
  if (open) nav.querySelector("a")?.focus();
});
nav.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && nav.classList.contains("open")) {
    menu.click();
    menu.focus();
  }
});

whenSignedOut(() => {
  if (parse().page !== "login") go(`#/login`);
});
window.addEventListener("hashchange", route);
clearInterval(unreadTimer);
unreadTimer = setInterval(() => refreshUnread(), 60000);
route();
