// 日调度 (daily dispatch, §五(二)): per line, the matters whose clock falls due today, those overdue, and
// those escalated today. Worked out from the open matters the person may see; "today" is the platform's
// date (on the demo's simulated clock it is not the browser's), read from the live 比晒亮 ranking's
// as_of until scoring's dispatch board, which carries its own date, is served.

import { get } from "../api.js";
import { loadLines, loadOpenMatters } from "../board.js";
import { h, clear, fmtDate, fmtTime, label } from "../dom.js";

const dayOf = (instant) => fmtDate(instant);

export async function render(main) {
  clear(main, h("h1", {}, "日调度"), h("p", { class: "muted", role: "status" }, "正在读取事项…"));
  const [lines, matters, live] = await Promise.all([loadLines(), loadOpenMatters(), get("/api/v1/rankings/new-starts")]);
  const today = live.as_of.slice(0, 10);
  const rows = [...lines.map((l) => ({ id: l.id, name: l.name })), { id: null, name: "未分线" }].map((line) => {
    const mine = matters.filter((m) => (m.line_id || null) === line.id);
    const running = (m) => (m.clocks || []).filter((c) => c.state === "running");
    return {
      line,
      due: mine.filter((m) => running(m).some((c) => dayOf(c.due_at) === today)),
      overdue: mine.filter((m) => (m.clocks || []).some((c) => c.state === "breached") || running(m).some((c) => dayOf(c.due_at) < today)),
      escalated: mine.filter((m) => m.layer > 1 && (m.breaches || []).some((b) => dayOf(b.breached_at) === today)),
    };
  }).filter((r) => r.due.length || r.overdue.length || r.escalated.length);
  clear(main,
    h("h1", {}, "日调度"),
    h("p", { class: "summary" }, `${today}：今日到期 ${sum(rows, "due")} 件，超时 ${sum(rows, "overdue")} 件，今日升级 ${sum(rows, "escalated")} 件`),
    rows.length ? rows.map((r) => h("section", { class: "card dispatch" },
      h("h2", {}, r.line.name),
      group("今日到期", r.due), group("已超时", r.overdue), group("今日升级", r.escalated)))
      : h("p", { class: "muted" }, "今日没有到期、超时或升级的事项"));
}

function sum(rows, key) {
  return rows.reduce((n, r) => n + r[key].length, 0);
}

function group(title, matters) {
  if (!matters.length) return null;
  return h("div", {}, h("h3", {}, `${title}（${matters.length}）`),
    h("ul", { class: "plain" }, matters.slice(0, 50).map((m) => h("li", {},
      h("a", { href: `#/matter/${m.kind === "meeting_matter" ? "meeting-matters" : "problems"}/${m.id}` }, m.title),
      ` · ${m.project_name || ""} · ${label("layer", m.layer)}`,
      ...(m.clocks || []).filter((c) => c.state === "running").map((c) => h("small", {}, ` ${label("clock", c.kind)}至 ${fmtTime(c.due_at)}`))))),
    matters.length > 50 ? h("p", { class: "muted" }, `另有 ${matters.length - 50} 件，见我的工作台`) : null);
}
