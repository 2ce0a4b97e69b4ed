// 考评与通报 (§六): the evaluation periods (proposals with their evidence; 重大项目办 confirms a month, the
// top leaders a quarter), grades with their evidence, and the published monthly bulletins to download.

import { api, get } from "../api.js";
import { h, clear, field, fmtTime, label, notice } from "../dom.js";
import { download } from "../forms.js";
import { hasRole } from "../session.js";

export async function render(main, [periodId]) {
  if (periodId) return period(main, periodId);
  const [periods, bulletins] = await Promise.all([get("/api/v1/evaluations/periods"), get("/api/v1/reports/monthly-bulletins")]);
  clear(main,
    h("h1", {}, "考评与通报"),
    h("h2", {}, "考评期"),
    periods.items.length
      ? h("ul", { class: "plain" }, periods.items.map((p) => h("li", {},
          h("a", { href: `#/evaluations/${p.id}` }, p.label), " ",
          h("span", { class: `tag period-${p.state}` }, p.state === "published" ? "已发布" : "待确认"),
          p.published_at ? ` 发布于 ${fmtTime(p.published_at)}` : ` 截止 ${fmtTime(p.closes_at)}`)))
      : h("p", { class: "muted" }, "暂无考评期（每月末、每季末生成）"),
    h("h2", {}, "月度通报"),
    bulletins.items.length
      ? h("ul", { class: "plain" }, bulletins.items.map((b) => h("li", {},
          `第${b.number}期 ${b.label} `,
          download(`/api/v1/reports/monthly-bulletins/${b.period_id}.docx`, `${b.label}月度通报.docx`, "Word"), " ",
          download(`/api/v1/reports/monthly-bulletins/${b.period_id}.xlsx`, `${b.label}月度通报.xlsx`, "Excel"))))
      : h("p", { class: "muted" }, "暂无已发布的通报"));
}

async function period(main, id) {
  const { data: p, etag } = await api(`/api/v1/evaluations/periods/${encodeURIComponent(id)}`);
  const status = h("div", { "aria-live": "polite" });
  const parts = [
    h("p", {}, h("a", { href: "#/evaluations" }, "← 考评与通报")),
    h("h1", {}, p.label),
    h("p", { class: "meta" }, h("span", { class: "tag" }, p.state === "published" ? "已发布" : "待确认"), ` 规则：${p.rule_label}，截至 ${fmtTime(p.as_of)}`),
  ];
  const mayConfirm = p.state === "proposed" &&
    (p.kind === "month" ? hasRole("major_projects_office", "admin") : hasRole("top_leader", "admin"));
  if (mayConfirm) {
    const note = h("textarea", { name: "note", rows: 2 });
    const form = h("form", { class: "card" }, field("确认意见（可选）", note), h("button", { type: "submit", class: "primary" }, "确认并发布"), status);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      try {
        await api(`/api/v1/evaluations/periods/${p.id}/confirmation`, { method: "POST", etag, body: { note: note.value.trim() || null } });
        clear(status, notice("已确认发布", "ok"));
        setTimeout(() => window.dispatchEvent(new HashChangeEvent("hashchange")), 400);
      } catch (error) {
        clear(status, notice(error.message));
      }
    });
    parts.push(form);
  }
  const row = (r) => h("tr", { class: r.carded ? "carded" : "" },
    h("td", {}, r.rank), h("th", { scope: "row" }, r.label), h("td", {}, r.score),
    h("td", {}, label("grade", r.grade), r.carded ? "（红牌）" : ""),
    h("td", {}, h("details", {}, h("summary", {}, `${(r.evidence || []).length} 条`),
      h("ul", {}, (r.evidence || []).map((e) => h("li", {}, e.note || e.kind))))));
  const head = h("thead", {}, h("tr", {}, ["名次", "单位", "得分", "等级", "依据"].map((t) => h("th", { scope: "col" }, t))));
  parts.push(h("div", { class: "scroll" }, h("table", { class: "ranking" }, head, h("tbody", {}, p.ranking.map(row)))));
  clear(main, parts);
}
