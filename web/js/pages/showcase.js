// 比晒亮 / 进度晾晒 (§三(三)二): scoring's ranking of the planned new starts by progress, and the ranking of
// the provincial and municipal projects' units (§三(三)一) for the month of the ranking.

import { get } from "../api.js";
import { bars } from "../charts.js";
import { h, clear, fmtTime } from "../dom.js";

export async function render(main) {
  clear(main, h("h1", {}, "比晒亮"), h("p", { class: "muted", role: "status" }, "正在读取排名…"));
  const starts = await get("/api/v1/rankings/new-starts");
  const [year, month] = starts.as_of.slice(0, 7).split("-").map(Number);
  const provincial = await get(`/api/v1/rankings/provincial-projects?year=${year}&month=${month}`);
  const chart = h("div", { class: "chart", role: "img", "aria-label": "计划新开工项目进度前 15 名柱状图" });
  clear(main,
    h("h1", {}, "比晒亮 · 进度晾晒"),
    h("p", { class: "muted" }, `计划新开工项目按进度排名，截至 ${fmtTime(starts.as_of)}`),
    chart,
    h("div", { class: "scroll" }, h("table", { class: "ranking" },
      h("thead", {}, h("tr", {}, ["名次", "项目", "责任单位", "节点", "按期完成", "逾期", "已批审批", "进度"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, starts.items.map((r) => h("tr", {},
        h("td", {}, r.rank), h("th", { scope: "row" }, h("a", { href: `#/project/${r.project_id}` }, r.name)),
        h("td", {}, r.unit_label), h("td", {}, `${r.reached}/${r.milestones}`), h("td", {}, r.reached_on_time),
        h("td", {}, r.overdue), h("td", {}, r.approvals_granted), h("td", {}, `${(Number(r.progress) * 100).toFixed(1)}%`)))))),
    h("h2", {}, `省市重大项目 ${year} 年 ${month} 月排名（按单位）`),
    h("p", { class: "muted" }, `共 ${provincial.total_projects} 个项目；按月度环比排序`),
    h("div", { class: "scroll" }, h("table", { class: "ranking" },
      h("thead", {}, h("tr", {}, ["名次", "单位", "个数占比", "投资占比", "本月完成投资", "上月", "环比"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, provincial.units.map((u) => h("tr", {},
        h("td", {}, u.rank), h("th", { scope: "row" }, u.label), h("td", {}, pct(u.count_share)), h("td", {}, pct(u.investment_share)),
        h("td", {}, wan(u.month_amount)), h("td", {}, wan(u.previous_amount)), h("td", {}, pct(u.month_on_month))))))));
  return bars(chart, starts.items.slice(0, 15).map((r) => [r.name.replace("【演示】", ""), Number((Number(r.progress) * 100).toFixed(1))]),
    { name: "进度", unit: "%" });
}

function pct(v) {
  return v === null || v === undefined ? "—" : `${(Number(v) * 100).toFixed(1)}%`;
}
function wan(v) {
  return `${(Number(v) / 1e4).toFixed(2)} 万元`;
}
