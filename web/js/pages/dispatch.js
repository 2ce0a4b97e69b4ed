// 日调度 (daily dispatch, §五(二)): scoring's dispatch board per line: the matters whose clock falls due
// today and on the next working day, the overdue ones, those escalated since the previous working day, the
// stalled approvals and this week's milestones.

import { loadBoard } from "../board.js";
import { h, clear, fmtDate, fmtTime, label } from "../dom.js";

const GROUPS = [
  ["overdue", "已超时"],
  ["escalated", "新升级"],
  ["due_today", "今日到期"],
  ["due_tomorrow", "下一工作日到期"],
];

export async function render(main) {
  clear(main, h("h1", {}, "日调度"), h("p", { class: "muted", role: "status" }, "正在读取调度表…"));
  const board = await loadBoard();
  const rows = board.lines.filter((l) =>
    [...GROUPS.map(([k]) => k), "stalled_approvals", "milestones_this_week"].some((k) => (l[k] || []).length));
  const total = (key) => board.lines.reduce((n, l) => n + (l[key] || []).length, 0);
  clear(main,
    h("h1", {}, "日调度"),
    h("p", { class: "summary" },
      `${board.day}（截至 ${fmtTime(board.as_of)}）：今日到期 ${total("due_today")} 件，超时 ${total("overdue")} 件，` +
      `新升级 ${total("escalated")} 件，审批停滞 ${total("stalled_approvals")} 项`),
    rows.length ? rows.map((line) => h("section", { class: "card dispatch" },
      h("h2", {}, line.line_name || "未分线"),
      GROUPS.map(([key, title]) => matters(title, line[key] || [])),
      approvals(line.stalled_approvals || []),
      milestones(line.milestones_this_week || [])))
      : h("p", { class: "muted" }, "今日没有到期、超时或升级的事项"));
}

function matters(title, list) {
  if (!list.length) return null;
  return h("div", {}, h("h3", {}, `${title}（${list.length}）`),
    h("ul", { class: "plain" }, list.slice(0, 50).map((m) => h("li", {},
      h("a", { href: `#/matter/${m.kind === "meeting_matter" ? "meeting-matters" : "problems"}/${m.matter_id}` }, m.title),
      ` · ${m.project_name || ""} · ${label("layer", m.layer)}`,
      m.clock ? h("small", {}, ` ${label("clock", m.clock)}${m.due_at ? `至 ${fmtTime(m.due_at)}` : ""}`) : null))),
    list.length > 50 ? h("p", { class: "muted" }, `另有 ${list.length - 50} 件，见我的工作台`) : null);
}

function approvals(list) {
  if (!list.length) return null;
  return h("div", {}, h("h3", {}, `审批停滞（${list.length}）`),
    h("ul", { class: "plain" }, list.slice(0, 50).map((a) => h("li", {},
      h("a", { href: `#/project/${a.project_id}` }, a.label), a.due_at ? h("small", {}, ` 时限 ${fmtTime(a.due_at)}`) : null))));
}

function milestones(list) {
  if (!list.length) return null;
  return h("div", {}, h("h3", {}, `本周节点（${list.length}）`),
    h("ul", { class: "plain" }, list.slice(0, 50).map((m) => h("li", {},
      h("a", { href: `#/project/${m.project_id}` }, `${m.project_name}：${m.label}`),
      ` 计划 ${fmtDate(m.planned_date)}`, m.achieved_on ? `，已于 ${fmtDate(m.achieved_on)} 完成` : ""))));
}
