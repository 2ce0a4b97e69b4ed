// 我的工作台: the signed-in person's open matters (the ones the API lets them see: a unit its own, a line's
// service department and leader their line's, 重大项目办 all), each with every clock and what to do next.

import { all } from "../api.js";
import { clockTable } from "../clocks.js";
import { h, clear, fmtTime, label, OPEN_STATES } from "../dom.js";
import { hasRole } from "../session.js";

export async function render(main) {
  clear(main, h("h1", {}, "我的工作台"), h("p", { class: "muted", role: "status" }, "正在读取事项…"));
  const [problems, meetings] = await Promise.all([all("/api/v1/problems"), all("/api/v1/meeting-matters")]);
  const open = [...problems, ...meetings].filter((m) => OPEN_STATES.has(m.state));
  open.sort((a, b) => b.layer - a.layer || nextDue(a) - nextDue(b));
  const head = [h("h1", {}, "我的工作台"), h("p", { class: "summary" }, `待办事项 ${open.length} 件`)];
  if (hasRole("unit_user", "major_projects_office", "admin"))
    head.push(h("p", {}, h("a", { class: "button primary", href: "#/report" }, "反映问题")));
  clear(main, head, open.length ? h("ul", { class: "matters" }, open.map(card)) : h("p", { class: "muted" }, "没有待办事项"));
}

function nextDue(m) {
  const due = (m.clocks || []).filter((c) => c.state === "running").map((c) => Date.parse(c.due_at));
  return due.length ? Math.min(...due) : Infinity;
}

function card(m) {
  const kind = m.kind === "meeting_matter" ? "meeting-matters" : "problems";
  const breached = (m.clocks || []).some((c) => c.state === "breached") || m.layer > 1;
  return h("li", { class: `matter card${breached ? " breached" : ""}`, dataset: { matter: m.id } },
    h("h2", {}, h("a", { href: `#/matter/${kind}/${m.id}` }, m.title)),
    h("p", { class: "meta" },
      h("span", { class: `tag state-${m.state}` }, label("state", m.state)),
      h("span", { class: `tag layer-${m.layer}` }, label("layer", m.layer)),
      m.project_name ? h("span", {}, m.project_name) : null,
      m.resolving_unit_name ? h("span", {}, `解决单位：${m.resolving_unit_name}`) : null,
      h("span", {}, `反映于 ${fmtTime(m.reported_at)}`)),
    clockTable(m),
    h("p", {}, h("a", { href: `#/matter/${kind}/${m.id}` }, "办理 →")));
}
