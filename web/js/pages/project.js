// 项目: one project as the person may see it (the registry answers 404 for a project outside their reach,
// and so does this page): its line and why, milestones (plan, frozen baseline, actual) on a timeline,
// the approval plan with its critical chain and earliest start, its problems, its history.

import { all, get } from "../api.js";
import { daysLeft, nextClock } from "../clocks.js";
import { h, clear, fmtDate, fmtMoney, fmtTime, label, STAGES } from "../dom.js";

export async function render(main, [id]) {
  let project;
  try {
    project = await get(`/api/v1/projects/${encodeURIComponent(id || "")}`);
  } catch (error) {
    if (error.status === 404 || error.status === 422) {
      clear(main, h("h1", {}, "项目不存在"), h("p", { class: "notice error", role: "alert", id: "not-found" },
        "没有这个项目，或您无权查看该项目。"), h("p", {}, h("a", { href: "#/map" }, "返回挂图作战")));
      return;
    }
    throw error;
  }
  const [line, history, plans, problems, meetings] = await Promise.all([
    get(`/api/v1/projects/${project.id}/line`),
    get(`/api/v1/projects/${project.id}/history`),
    get(`/api/v1/approval-plans?project_id=${project.id}`),
    all(`/api/v1/problems?project_id=${project.id}`),
    all(`/api/v1/meeting-matters?project_id=${project.id}`),
  ]);
  let plan = null;
  let chain = null;
  if (plans.items.length) {
    [plan, chain] = await Promise.all([
      get(`/api/v1/approval-plans/${plans.items[0].id}`),
      get(`/api/v1/approval-plans/${plans.items[0].id}/critical-chain`),
    ]);
  }
  const stage = (STAGES.find(([k]) => k === project.stage) || [null, project.stage])[1];
  clear(main,
    h("p", {}, h("a", { href: "#/map" }, "← 挂图作战")),
    h("h1", {}, project.name),
    h("p", { class: "meta" },
      h("span", { class: "tag" }, label("project_class", project.project_class)),
      h("span", { class: "tag" }, `阶段：${stage}`),
      project.fast_track ? h("span", { class: "tag" }, "批前提速") : null,
      project.provincial_municipal ? h("span", { class: "tag" }, "省市重大") : null,
      project.above_100m ? h("span", { class: "tag" }, "亿元以上") : null),
    h("dl", { class: "facts" },
      h("dt", {}, "建设单位"), h("dd", {}, project.enterprise),
      h("dt", {}, "责任单位"), h("dd", {}, project.responsible_unit_name),
      h("dt", {}, "包保线"), h("dd", {}, line.line_name || "未分线", h("small", {}, ` ${line.routing_reason}`)),
      h("dt", {}, "项目代码"), h("dd", {}, project.project_code || "—"),
      h("dt", {}, "总投资"), h("dd", {}, fmtMoney(project.total_investment)),
      h("dt", {}, "年度计划投资"), h("dd", {}, fmtMoney(project.planned_annual_investment))),
    h("h2", {}, "节点计划（计划 / 基线 / 实际）"),
    timeline(project.milestones),
    h("h2", {}, "审批计划"),
    plan ? approvals(plan, chain) : h("p", { class: "muted" }, "暂无审批计划"),
    h("h2", {}, "问题与会议议定事项"),
    matters([...problems, ...meetings]),
    h("h2", {}, "变更历史"),
    h("ol", { class: "audit" }, history.slice().reverse().map((c) => h("li", {},
      h("time", {}, fmtTime(c.changed_at)), ` 第${c.revision}版 ${c.action}`, c.reason ? h("q", {}, c.reason) : null))));
}

/** The project's matters, each with the clock it must beat next and its working days left. */
function matters(list) {
  if (!list.length) return h("p", { class: "muted" }, "暂无问题");
  return h("ul", { class: "plain" }, list.map((m) => {
    const kind = m.kind === "meeting_matter" ? "meeting-matters" : "problems";
    const clock = nextClock(m);
    return h("li", { dataset: { matter: m.id } },
      h("a", { href: `#/matter/${kind}/${m.id}` }, m.title), " ",
      h("span", { class: `tag state-${m.state}` }, label("state", m.state)), " ", label("layer", m.layer),
      clock ? h("span", { class: `left${clock.working_days_left < 0 ? " warn" : ""}` },
        ` ${label("clock", clock.kind)}：${daysLeft(clock)}`) : null);
  }));
}

function timeline(milestones) {
  if (!milestones.length) return h("p", { class: "muted" }, "暂无节点");
  const dates = milestones.flatMap((m) => [m.planned_date, m.baseline_date, m.actual_date]).filter(Boolean).map(Date.parse);
  const min = Math.min(...dates);
  const span = Math.max(Math.max(...dates) - min, 86400000);
  const at = (d) => `${(4 + ((Date.parse(d) - min) / span) * 92).toFixed(2)}%`;
  return h("div", { class: "timeline" },
    h("ul", { class: "timeline-legend", "aria-hidden": "true" },
      h("li", {}, h("span", { class: "mark baseline" }), "基线"), h("li", {}, h("span", { class: "mark planned" }), "计划"),
      h("li", {}, h("span", { class: "mark actual" }), "实际")),
    h("table", { class: "milestones" },
      h("thead", {}, h("tr", {}, ["节点", "基线", "计划", "实际", "进度"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, milestones.map((m) => {
        const late = !m.actual_date && m.missed_at;
        return h("tr", { class: late ? "late" : "" },
          h("th", { scope: "row" }, m.label),
          h("td", {}, fmtDate(m.baseline_date)), h("td", {}, fmtDate(m.planned_date)),
          h("td", {}, m.actual_date ? fmtDate(m.actual_date) : late ? "已逾期" : "—"),
          h("td", { class: "track" },
            m.baseline_date ? h("span", { class: "mark baseline", style: { left: at(m.baseline_date) }, title: `基线 ${m.baseline_date}` }) : null,
            h("span", { class: "mark planned", style: { left: at(m.planned_date) }, title: `计划 ${m.planned_date}` }),
            m.actual_date ? h("span", { class: "mark actual", style: { left: at(m.actual_date) }, title: `实际 ${m.actual_date}` }) : null));
      }))));
}

function approvals(plan, chain) {
  const onChain = new Set((chain?.chain || []).map((s) => s.item_id));
  return h("div", {},
    h("p", {}, `计划开工 ${fmtDate(plan.planned_start)}，最早可开工 ${fmtDate(plan.earliest_start)}`,
      plan.start_at_risk ? h("strong", { class: "warn" }, "（开工受审批影响）") : null,
      chain && chain.slack_days !== null ? `，余量 ${chain.slack_days} 天` : ""),
    h("table", { class: "approvals" },
      h("thead", {}, h("tr", {}, ["审批事项", "办理部门", "状态", "时限", "预计办结", "关键链"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, plan.items.map((item) => {
        const clock = (item.clocks || []).find((c) => c.state === "running");
        return h("tr", { class: onChain.has(item.id) ? "critical" : "" },
          h("th", { scope: "row" }, item.name),
          h("td", {}, item.handling_unit_name),
          h("td", {}, label("item", item.state)),
          h("td", {}, clock ? `剩余 ${clock.left} ${clock.unit === "working" ? "个工作日" : "天"}${clock.overdue ? "（已超时）" : ""}` : `${item.limit_days} ${item.limit_unit === "working" ? "个工作日" : "天"}`),
          h("td", {}, fmtDate(item.expected_finish)),
          h("td", {}, onChain.has(item.id) ? "是" : ""));
      }))));
}
