// 督查 (§五(三)): the month-end supervision rounds and each round's 《督查问题专报》 — a live draft until 督查室
// issues it (第N期, frozen), with its four categories of findings, the red cards each proposed and what
// became of them, the referrals to 区纪委监委; Word and Excel of an issued report to download. A line
// leader reads only their own lines' findings (the service decides).

import { api, get, newKey } from "../api.js";
import { h, clear, fmtDate, fmtTime, notice } from "../dom.js";
import { download, reload } from "../forms.js";
import { hasRole } from "../session.js";
import { CARD_STATE, reason } from "./cards.js";

export async function render(main, [id]) {
  if (id) return round(main, id);
  clear(main, h("h1", {}, "督查"), h("p", { class: "muted", role: "status" }, "正在读取督查轮次…"));
  const rounds = await get("/api/v1/supervision-rounds?limit=100");
  clear(main,
    h("h1", {}, "督查"),
    h("p", { class: "muted" }, "每月末督查：无实质进展、进度滞后、未按要求入库、会议议定事项超期，逐项提出红牌，由区政府督查室认定后印发专报。"),
    h("h2", {}, "月末督查轮次"),
    rounds.items.length
      ? h("ul", { class: "plain" }, rounds.items.map((r) => h("li", { dataset: { round: r.id } },
          h("a", { href: `#/rounds/${r.id}` }, `${r.year}年${r.month}月督查`), " ",
          h("span", { class: "tag" }, r.report_number ? `已印发 第${r.report_number}期` : "专报草稿"),
          ` ${fmtDate(r.period_start)} 至 ${fmtDate(r.period_end)}`)))
      : h("p", { class: "muted" }, "暂无督查轮次（每月末生成）"));
}

async function round(main, id) {
  const base = `/api/v1/supervision-rounds/${encodeURIComponent(id)}`;
  const report = await get(`${base}/report`);
  const status = h("div", { "aria-live": "polite" });
  const parts = [
    h("p", {}, h("a", { href: "#/rounds" }, "← 督查")),
    h("h1", {}, report.title),
    h("p", { class: "meta" },
      h("span", { class: "tag", id: "report-state" }, report.state === "issued" ? `已印发 第${report.number}期` : "草稿（随认定实时更新）"),
      `${fmtDate(report.period_start)} 至 ${fmtDate(report.period_end)}`, report.issued_at ? ` 印发于 ${fmtTime(report.issued_at)}` : ""),
    totals(report.totals),
  ];
  if (report.state === "issued")
    parts.push(h("p", {}, download(`${base}/report.docx`, `督查问题专报第${report.number}期.docx`, "Word"), " ",
      download(`${base}/report.xlsx`, `督查问题专报第${report.number}期.xlsx`, "Excel")));
  else if (hasRole("supervision_office", "admin")) {
    const key = newKey();
    const submit = h("button", { type: "submit", class: "primary", disabled: report.totals.pending > 0 }, "印发专报");
    const form = h("form", { class: "card", "aria-label": "印发专报" },
      h("p", {}, report.totals.pending ? `尚有 ${report.totals.pending} 张红牌待认定，认定后方可印发。` : "本轮红牌已全部认定。"),
      submit, status);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      submit.disabled = true;
      try {
        await api(`${base}/report`, { method: "POST", key });
        clear(status, notice("已印发", "ok"));
        reload();
      } catch (error) {
        clear(status, notice(error.message));
        submit.disabled = false;
      }
    });
    parts.push(form);
  }
  for (const category of report.categories) parts.push(section(category));
  parts.push(h("h2", {}, "移交区纪委监委"),
    report.referrals.length
      ? h("ul", { class: "plain" }, report.referrals.map((r) => h("li", {},
          h("a", { href: `#/cards/${r.red_card_id}` }, r.target_unit_name), `：${r.subject}（${reason(r.reason)}）`,
          r.outcome ? ` 结果：${r.outcome === "accountability_taken" ? "已问责" : "不予问责"}` : ` ${r.referral_state === "referred" ? "已移交" : "待移交"}`)))
      : h("p", { class: "muted" }, "无"));
  clear(main, parts);
}

function totals(t) {
  const items = [["发现", t.findings], ["提出红牌", t.proposed], ["已发出", t.confirmed], ["不予认定", t.dismissed], ["待认定", t.pending], ["已移交", t.referred]];
  return h("ul", { class: "legend totals", "aria-label": "合计" }, items.map(([k, v]) => h("li", {}, `${k} ${v}`)));
}

function section(category) {
  return h("section", { class: "card", "aria-label": category.label },
    h("h2", {}, category.label, h("small", {}, ` 发现 ${category.findings.length}，红牌 ${category.proposed}（待认定 ${category.pending}）`)),
    category.findings.length
      ? h("ul", { class: "plain" }, category.findings.map((f) => h("li", {},
          f.project_id ? h("a", { href: `#/project/${f.project_id}` }, f.name)
            : f.matter_id ? h("a", { href: `#/matter/meeting-matters/${f.matter_id}` }, f.name) : f.name,
          f.line_name ? h("small", {}, ` ${f.line_name}`) : null,
          f.notes.length ? h("p", { class: "muted" }, f.notes.join("；")) : null,
          f.cards.map((c) => h("p", {}, h("a", { href: `#/cards/${c.red_card_id}` }, `红牌：${c.target_unit_name}`),
            ` ${CARD_STATE[c.state] || c.state}`, c.field_checks ? `，核查 ${c.field_checks} 次` : "")))))
      : h("p", { class: "muted" }, "无"));
}
