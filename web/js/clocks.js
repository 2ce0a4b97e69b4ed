// Every clock that runs on a matter (acceptance, reply, progress, resolution), as the issues service
// reports them: budget, due time, the working days left (the service counts them on the official calendar,
// 调休 included, at the shared clock's now), warning, state, and the layer each is charged to.

import { h, fmtTime, label } from "./dom.js";

const UNIT = { working: "个工作日", calendar: "个自然日" };

export function clockTable(matter) {
  const clocks = matter.clocks || [];
  if (!clocks.length) return h("p", { class: "muted" }, "没有计时中的时限");
  return h("table", { class: "clocks" },
    h("caption", {}, "时限"),
    h("thead", {}, h("tr", {}, ["时限", "层级", "时长", "到期", "剩余工作日", "状态"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, clocks.map((c) => h("tr", { class: `clock-${c.state}${c.warned_at && c.state === "running" ? " warned" : ""}` },
      h("td", { "data-label": "时限" }, label("clock", c.kind)),
      h("td", { "data-label": "层级" }, `第${c.layer}层`),
      h("td", { "data-label": "时长" }, c.budget ? `${c.budget} ${UNIT[c.budget_unit] || c.budget_unit || ""}` : "—"),
      h("td", { "data-label": "到期" }, fmtTime(c.due_at), c.provisional ? h("small", {}, "（临时日历）") : null),
      h("td", { "data-label": "剩余工作日", class: "left" }, daysLeft(c)),
      h("td", { "data-label": "状态" }, label("clockState", c.state), c.state === "running" && c.warned_at ? "（已预警）" : "",
        c.ended_at ? h("small", {}, ` ${fmtTime(c.ended_at)}`) : null)))));
}

export function runningClocks(matter) {
  return (matter.clocks || []).filter((c) => c.state === "running");
}

/** "剩 3 个工作日", "今天到期", "超期 2 个工作日"; an ended clock as it stood when it ended. */
export function daysLeft(c) {
  const n = c.working_days_left;
  if (n === undefined || n === null) return "—";
  if (n > 0) return `剩 ${n} 个工作日`;
  if (n === 0) return c.state === "running" ? "今天到期" : "0";
  return `超期 ${-n} 个工作日`;
}

/** The running clock due first (the one the person must beat next), or null. */
export function nextClock(matter) {
  const running = runningClocks(matter);
  running.sort((a, b) => Date.parse(a.due_at) - Date.parse(b.due_at));
  return running[0] || null;
}
