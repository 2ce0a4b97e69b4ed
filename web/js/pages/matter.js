// One matter: what was reported, photos, every clock, the audit trail, and the actions the person may take
// in its state (accept, return, assign, answer, report progress, resolve, close). The server decides: an
// action the person may not take answers 403 and is shown as such; a stale page answers 412.

import { api, get, newKey } from "../api.js";
import { clockTable } from "../clocks.js";
import { h, clear, field, fmtTime, label, notice } from "../dom.js";
import { hasRole } from "../session.js";

export async function render(main, [kind, id]) {
  if (!["problems", "meeting-matters"].includes(kind) || !id) throw new Error("没有这个事项");
  const base = `/api/v1/${kind}/${encodeURIComponent(id)}`;
  const { data: m, etag } = await api(base);
  const [audit, attachments] = await Promise.all([get(`${base}/audit`), get(`${base}/attachments?limit=50`)]);
  const status = h("div", { "aria-live": "polite" });
  const photos = h("div", { class: "photos" });
  clear(main,
    h("p", {}, h("a", { href: m.kind === "meeting_matter" ? "#/meetings" : "#/desk" }, m.kind === "meeting_matter" ? "← 会议议定事项" : "← 我的工作台")),
    h("h1", {}, m.title),
    h("p", { class: "meta" },
      h("span", { class: `tag state-${m.state}`, id: "matter-state" }, label("state", m.state)),
      h("span", { class: `tag layer-${m.layer}` }, label("layer", m.layer)),
      m.project_id ? h("a", { href: `#/project/${m.project_id}` }, m.project_name || "项目") : null),
    h("dl", { class: "facts" },
      m.meeting_title ? [h("dt", {}, "议定会议"), h("dd", {}, `${m.meeting_title}（${m.meeting_date}，${label("layer", m.deciding_layer)}）`)] : null,
      h("dt", {}, "问题类别"), h("dd", {}, m.topic),
      h("dt", {}, "情况说明"), h("dd", { class: "pre" }, m.description),
      m.help_requested ? [h("dt", {}, "需协调事项"), h("dd", {}, m.help_requested)] : null,
      h("dt", {}, "解决单位"), h("dd", {}, m.resolving_unit_name || "未交办"),
      h("dt", {}, "办结期限"), h("dd", {}, m.resolution_due_on || "—")),
    photos,
    clockTable(m),
    status,
    actions(m, etag, base, status),
    h("h2", {}, "办理记录"),
    h("ol", { class: "audit" }, audit.items.map((a) => h("li", {},
      h("time", {}, fmtTime(a.at)), " ", h("strong", {}, a.actor_name || a.actor), " ", actionName(a.action),
      a.detail && (a.detail.opinion || a.detail.summary || a.detail.reason || a.detail.note)
        ? h("q", {}, a.detail.opinion || a.detail.summary || a.detail.reason || a.detail.note) : null))));
  for (const a of attachments.items) showAttachment(photos, base, a);
}

const ACTIONS = {
  reported: "反映", accepted: "受理", returned: "退回", assigned: "交办", answered: "答复", progress_reported: "报告进展",
  resolved: "报告解决", closed: "销号", escalated: "上报升级", breached: "超时", warned: "预警", withdrawn: "撤回",
  attachment_added: "上传附件", merged: "合并", holders_changed: "承办岗位变更", rerouted: "改线",
};
function actionName(action) {
  return ACTIONS[action] || action;
}

async function showAttachment(container, base, a) {
  if (!a.media_type.startsWith("image/")) {
    container.append(h("p", {}, `附件：${a.filename}`));
    return;
  }
  const { data } = await api(`${base}/attachments/${a.id}/content?disposition=inline`, { accept: a.media_type });
  const url = await new Promise((resolve) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.readAsDataURL(data);
  });
  container.append(h("figure", {}, h("img", { src: url, alt: a.filename }), h("figcaption", {}, a.filename)));
}

async function unitsForAssignment() {
  const units = await get("/api/v1/org/units");
  return units.filter((u) => u.kind !== "leadership").sort((a, b) => a.name.localeCompare(b.name, "zh-CN"));
}

function actions(m, etag, base, status) {
  const box = h("section", { class: "actions card", "aria-label": "办理" }, h("h2", {}, "办理"));
  const act = (path, body, okText) => async (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    form.querySelectorAll("button").forEach((b) => (b.disabled = true));
    try {
      await api(`${base}/${path}`, { method: "POST", body: body(form), etag });
      clear(status, notice(okText, "ok"));
      setTimeout(() => window.dispatchEvent(new HashChangeEvent("hashchange")), 400);
    } catch (error) {
      clear(status, notice(error.status === 412 ? "该事项已被他人处理，请刷新后重试" : error.message));
      form.querySelectorAll("button").forEach((b) => (b.disabled = false));
    }
  };
  const text = (name, labelText, required = true) =>
    field(labelText, h("textarea", { name, required, rows: 3, maxlength: 10000 }));
  const forms = [];
  const office = hasRole("service_department", "line_leader", "major_projects_office", "top_leader", "admin");
  if (m.state === "reported" && m.kind === "meeting_matter") {
    // 签收: the resolving unit acknowledges the decided matter (its coordinators may too).
    forms.push(h("form", { class: "action", onsubmit: act("acceptance", (f) => ({ note: f.note.value.trim() || null }), "已签收") },
      field("签收意见（可选）", h("input", { name: "note", maxlength: 200 })), h("button", { type: "submit", class: "primary" }, "签收")));
  } else if (m.state === "reported" && office) {
    forms.push(h("form", { class: "action", onsubmit: act("acceptance", () => ({}), "已受理") },
      h("button", { type: "submit", class: "primary" }, "受理")));
    forms.push(h("form", { class: "action", onsubmit: act("return", (f) => ({ reason: f.reason.value.trim() }), "已退回") },
      text("reason", "退回理由"), h("button", { type: "submit" }, "退回")));
  }
  if (["accepted", "assigned"].includes(m.state) && office) {
    const select = h("select", { name: "unit", required: true }, h("option", { value: "" }, "请选择"));
    unitsForAssignment().then((units) =>
      select.append(...units.map((u) => h("option", { value: u.id, selected: u.id === m.resolving_unit_id }, u.name))));
    const due = h("input", { type: "date", name: "due" });
    forms.push(h("form", { class: "action", onsubmit: act("assignments", (f) => ({
      resolving_unit_id: f.unit.value,
      resolving_unit_name: f.unit.selectedOptions[0].textContent,
      resolution_due_on: f.due.value || null,
    }), "已交办") }, field("解决单位", select), field("办结期限（可选）", due), h("button", { type: "submit", class: "primary" }, "交办")));
  }
  if (m.state === "assigned")
    forms.push(h("form", { class: "action", onsubmit: act("answers", (f) => ({ opinion: f.opinion.value.trim() }), "已答复") },
      text("opinion", "处理意见（3个工作日内答复）"), h("button", { type: "submit", class: "primary" }, "答复")));
  if (["answered", "in_progress"].includes(m.state)) {
    forms.push(h("form", { class: "action", onsubmit: act("progress-reports", (f) => ({ summary: f.summary.value.trim() }), "已报告进展") },
      text("summary", "进展情况（每5个工作日报告）"), h("button", { type: "submit" }, "报告进展")));
    forms.push(h("form", { class: "action", onsubmit: act("resolution", (f) => ({ summary: f.summary.value.trim() }), "已报告解决") },
      text("summary", "解决情况"), h("button", { type: "submit", class: "primary" }, "报告解决")));
  }
  if (m.state === "resolved" && office)
    forms.push(h("form", { class: "action", onsubmit: act("closure", (f) => ({ note: f.note.value.trim() || null }), "已销号") },
      field("销号说明（可选）", h("textarea", { name: "note", rows: 2 })), h("button", { type: "submit", class: "primary" }, "销号")));
  if (!forms.length) box.append(h("p", { class: "muted" }, "当前状态下您没有可办理的操作"));
  box.append(...forms);
  return box;
}
