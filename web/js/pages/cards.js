// 红牌 (§五(三)): the red-card register and one card with its evidence, field checks and referral. What each
// role does on a card: 督查室 records field checks (明查暗访), confirms or dismisses a proposed card, asks the
// line leader's consent to refer an issued one to 区纪委监委, refers it once consented and records the
// commission's outcome; the line leader consents; 重大项目办 withdraws an issued ranking card. The server
// decides (403/409 in Chinese); the page shows the forms that fit the card's state and the person's roles.

import { api, get, query } from "../api.js";
import { h, clear, field, fmtDate, fmtTime } from "../dom.js";
import { actionForm } from "../forms.js";
import { hasRole } from "../session.js";

export const CARD_STATE = { proposed: "待认定", issued: "已发出", dismissed: "不予认定", withdrawn: "已撤销" };
const REASON = {
  no_real_progress: "无实质进展", behind_schedule: "进度滞后", not_enrolled: "未按要求入库", meeting_matter_overdue: "会议议定事项超期",
};
export const reason = (r) => REASON[r] || r;
const SOURCE = { supervision: "月末督查", ranking: "考评排名" };
const REFERRAL = { none: "未移交", requested: "已提请同意移交", consented: "包保领导已同意", referred: "已移交区纪委监委", concluded: "已有问责结果" };
const CHECK = { open_inspection: "明查", unannounced_visit: "暗访", on_site_verification: "实地核实" };
const OUTCOME = { accountability_taken: "已问责", no_accountability: "不予问责" };

export async function render(main, [id], ctx) {
  if (id) return card(main, id);
  const state = new URLSearchParams(location.hash.split("?")[1] || "").get("state") || "";
  clear(main, h("h1", {}, "红牌"), h("p", { class: "muted", role: "status" }, "正在读取红牌…"));
  const page = await get(`/api/v1/red-cards${query({ state, limit: 200 })}`);
  const select = h("select", { name: "state" }, h("option", { value: "" }, "全部"),
    Object.entries(CARD_STATE).map(([k, t]) => h("option", { value: k, selected: k === state }, t)));
  const filters = h("form", { class: "filters", "aria-label": "筛选" }, field("状态", select));
  select.addEventListener("change", () => ctx.go(`#/cards${select.value ? `?state=${select.value}` : ""}`));
  filters.addEventListener("submit", (e) => e.preventDefault());
  const head = ["对象单位", "事由", "来源", "期间", "状态", "移交"];
  clear(main, h("h1", {}, "红牌"), filters,
    h("p", { class: "summary", role: "status" }, `共 ${page.items.length} 张${page.next_cursor ? "（仅显示前200张）" : ""}`),
    page.items.length
      ? h("div", { class: "scroll" }, h("table", { class: "cards stack" },
          h("caption", {}, "红牌登记簿"),
          h("thead", {}, h("tr", {}, head.map((t) => h("th", { scope: "col" }, t)))),
          h("tbody", {}, page.items.map((c) => h("tr", { dataset: { card: c.id }, class: c.state === "issued" ? "carded" : "" },
            h("th", { scope: "row", "data-label": "对象单位" }, h("a", { href: `#/cards/${c.id}` }, c.target_unit_name)),
            h("td", { "data-label": "事由" }, reason(c.reason)),
            h("td", { "data-label": "来源" }, SOURCE[c.source] || c.source),
            h("td", { "data-label": "期间" }, `${fmtDate(c.period_start)} 至 ${fmtDate(c.period_end)}`),
            h("td", { "data-label": "状态" }, CARD_STATE[c.state] || c.state),
            h("td", { "data-label": "移交" }, REFERRAL[c.referral_state] || c.referral_state))))))
      : h("p", { class: "muted" }, "暂无红牌"));
}

/** An evidence or check entry (a JSON object from the service) as one line of text. */
function entry(e) {
  if (e.note || e.summary) return [e.method ? `${CHECK[e.method] || e.method}：` : "", e.note || e.summary, e.at ? `（${fmtTime(e.at)}）` : ""].join("");
  return Object.entries(e).filter(([, v]) => ["string", "number"].includes(typeof v)).map(([k, v]) => `${k}：${v}`).join("，");
}

async function card(main, id) {
  const base = `/api/v1/red-cards/${encodeURIComponent(id)}`;
  const { data: c, etag } = await api(base);
  const status = h("div", { "aria-live": "polite" });
  const note = (name, text, required = true) => field(text, h("textarea", { name, required, rows: 2, maxlength: 500 }));
  const act = (verb, button, ok, body, fields, primary = true) =>
    actionForm({ path: `${base}/${verb}`, etag, body, ok, status, button, fields, primary });
  const forms = [];
  const supervises = hasRole("supervision_office", "admin");
  if (c.state === "proposed" && supervises) {
    const method = h("select", { name: "method", required: true }, Object.entries(CHECK).map(([k, t]) => h("option", { value: k }, t)));
    forms.push(act("field-checks", "记录核查", "已记录核查",
      (f) => ({ method: f.method.value, note: f.note.value.trim() }), [field("核查方式", method), note("note", "核查情况")], false));
    forms.push(act("confirmation", "确认发出红牌", "已发出红牌", () => undefined, []));
    forms.push(act("dismissal", "不予认定", "已不予认定", (f) => ({ reason: f.reason.value.trim() }), [note("reason", "不予认定理由")], false));
  }
  if (c.state === "issued" && supervises && c.referral_state === "none")
    forms.push(act("referral-request", "提请包保领导同意移交", "已提请", (f) => ({ note: f.note.value.trim() }), [note("note", "提请说明")], false));
  if (c.state === "issued" && hasRole("line_leader", "admin") && ["none", "requested"].includes(c.referral_state))
    forms.push(act("referral-consent", "同意移交区纪委监委", "已同意移交", (f) => ({ note: f.note.value.trim() }), [note("note", "意见")]));
  if (supervises && c.referral_state === "consented")
    forms.push(act("referral", "移交区纪委监委", "已移交", (f) => ({ note: f.note.value.trim() }), [note("note", "移交说明")]));
  if (supervises && c.referral_state === "referred") {
    const outcome = h("select", { name: "outcome", required: true }, Object.entries(OUTCOME).map(([k, t]) => h("option", { value: k }, t)));
    forms.push(act("referral-outcome", "登记问责结果", "已登记", (f) => ({ outcome: f.outcome.value, note: f.note.value.trim(), decided_on: f.decided_on.value }),
      [field("问责结果", outcome), note("note", "结果说明"), field("决定日期", h("input", { type: "date", name: "decided_on", required: true }))]));
  }
  // 撤销 an issued card: a ranking card is 重大项目办's, a supervision card 督查室's (before any referral).
  const owns = c.source === "ranking" ? hasRole("major_projects_office", "admin") : supervises;
  if (c.state === "issued" && c.referral_state === "none" && owns)
    forms.push(act("withdrawal", "撤销红牌", "已撤销", (f) => ({ reason: f.reason.value.trim() }), [note("reason", "撤销理由")], false));
  clear(main,
    h("p", {}, h("a", { href: "#/cards" }, "← 红牌")),
    h("h1", {}, `红牌：${c.target_unit_name}`),
    h("p", { class: "meta" }, h("span", { class: "tag", id: "card-state" }, CARD_STATE[c.state] || c.state),
      h("span", { class: "tag" }, SOURCE[c.source] || c.source), h("span", { class: "tag" }, REFERRAL[c.referral_state])),
    h("dl", { class: "facts" },
      h("dt", {}, "事由"), h("dd", {}, reason(c.reason)),
      h("dt", {}, "期间"), h("dd", {}, `${fmtDate(c.period_start)} 至 ${fmtDate(c.period_end)}`),
      c.project_id ? [h("dt", {}, "项目"), h("dd", {}, h("a", { href: `#/project/${c.project_id}` }, "查看项目"))] : null,
      c.matter_id ? [h("dt", {}, "事项"), h("dd", {}, h("a", { href: `#/matter/meeting-matters/${c.matter_id}` }, "查看事项"))] : null,
      c.supervision_round_id ? [h("dt", {}, "督查轮次"), h("dd", {}, h("a", { href: `#/rounds/${c.supervision_round_id}` }, "查看督查专报"))] : null,
      h("dt", {}, "认定时间"), h("dd", {}, fmtTime(c.decided_at)),
      c.dismissal_reason ? [h("dt", {}, "不予认定理由"), h("dd", {}, c.dismissal_reason)] : null,
      c.withdrawal_reason ? [h("dt", {}, "撤销理由"), h("dd", {}, c.withdrawal_reason)] : null,
      c.referral_outcome ? [h("dt", {}, "问责结果"), h("dd", {}, `${OUTCOME[c.referral_outcome]}（${fmtDate(c.referral_outcome_on)}）${c.referral_outcome_note || ""}`)] : null),
    h("h2", {}, "依据"),
    c.evidence.length ? h("ul", {}, c.evidence.map((e) => h("li", {}, entry(e)))) : h("p", { class: "muted" }, "无"),
    h("h2", {}, "核查记录"),
    c.field_checks.length ? h("ul", {}, c.field_checks.map((e) => h("li", {}, entry(e)))) : h("p", { class: "muted" }, "暂无核查记录"),
    status,
    h("section", { class: "actions card", "aria-label": "办理" }, h("h2", {}, "办理"),
      forms.length ? forms : h("p", { class: "muted" }, "当前状态下您没有可办理的操作")));
}
