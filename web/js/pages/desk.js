// 我的工作台: the signed-in person's matters. "待我处理" (the default) is what their unit, line or post must
// act on next (the issues service's awaiting_me filter: accept, assign, answer, report progress, resolve,
// close); "全部未结" is every open matter the API lets them see. Each with every clock and its working days
// left, the one to beat next first.

import { all } from "../api.js";
import { clockTable, daysLeft, nextClock } from "../clocks.js";
import { h, clear, fmtTime, label, OPEN_STATES } from "../dom.js";
import { hasRole } from "../session.js";

const VIEWS = {
  mine: { title: "待我处理", query: "?awaiting_me=true", empty: "没有待您处理的事项" },
  all: { title: "全部未结", query: "", empty: "没有未结事项" },
};

export async function render(main, [which]) {
  const view = VIEWS[which] ? which : "mine";
  const tabs = h("nav", { class: "tabs", "aria-label": "工作台视图" },
    Object.entries(VIEWS).map(([key, v]) =>
      h("a", { href: key === "mine" ? "#/desk" : `#/desk/${key}`, "aria-current": key === view ? "page" : null }, v.title)));
  clear(main, h("h1", {}, "我的工作台"), tabs, h("p", { class: "muted", role: "status" }, "正在读取事项…"));
  const q = VIEWS[view].query;
  const [problems, meetings] = await Promise.all([all(`/api/v1/problems${q}`), all(`/api/v1/meeting-matters${q}`)]);
  const open = [...problems, ...meetings].filter((m) => OPEN_STATES.has(m.state));
  open.sort((a, b) => left(a) - left(b) || b.layer - a.layer);
  const overdue = open.filter((m) => left(m) < 0).length;
  const head = [
    h("h1", {}, "我的工作台"),
    tabs,
    h("p", { class: "summary", role: "status" },
      `${VIEWS[view].title} ${open.length} 件`, overdue ? h("span", { class: "warn" }, `，其中超期 ${overdue} 件`) : null),
  ];
  if (hasRole("unit_user", "major_projects_office", "admin"))
    head.push(h("p", {}, h("a", { class: "button primary", href: "#/report" }, "反映问题")));
  clear(main, head,
    open.length ? h("ul", { class: "matters" }, open.map(card)) : h("p", { class: "muted" }, VIEWS[view].empty));
}

/** Working days left on the clock due first (Infinity when none runs). */
function left(m) {
  const c = nextClock(m);
  return c ? c.working_days_left : Infinity;
}

function card(m) {
  const kind = m.kind === "meeting_matter" ? "meeting-matters" : "problems";
  const breached = (m.clocks || []).some((c) => c.state === "breached") || m.layer > 1;
  const next = nextClock(m);
  return h("li", { class: `matter card${breached ? " breached" : ""}`, dataset: { matter: m.id } },
    h("h2", {}, h("a", { href: `#/matter/${kind}/${m.id}` }, m.title)),
    h("p", { class: "meta" },
      h("span", { class: "tag" }, m.kind === "meeting_matter" ? "会议议定事项" : "问题"),
      h("span", { class: `tag state-${m.state}` }, label("state", m.state)),
      h("span", { class: `tag layer-${m.layer}` }, label("layer", m.layer)),
      m.project_name ? h("span", {}, m.project_name) : null,
      m.resolving_unit_name ? h("span", {}, `解决单位：${m.resolving_unit_name}`) : null,
      h("span", {}, `${m.kind === "meeting_matter" ? "登记于" : "反映于"} ${fmtTime(m.reported_at)}`)),
    next ? h("p", { class: `next${next.working_days_left < 0 ? " warn" : ""}` },
      h("strong", {}, label("clock", next.kind)), `：${daysLeft(next)}（${fmtTime(next.due_at)} 到期）`) : null,
    clockTable(m),
    h("p", {}, h("a", { href: `#/matter/${kind}/${m.id}` }, "办理 →")));
}
