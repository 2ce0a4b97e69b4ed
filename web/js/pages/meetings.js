// 会议议定事项 (§五(一)): the matters decided at a line's coordination meeting (layer 2) or at the district
// leaders' meeting (layer 3), each with the clock it must beat next; and, for those who register them (the
// line's service department and leader for their line at layer 2, 重大项目办 and the top leaders at either
// layer), the register form. The resolving unit then acknowledges (签收) and answers on the matter's page.

import { all, api, get, newKey } from "../api.js";
import { daysLeft, nextClock } from "../clocks.js";
import { h, clear, field, fmtDate, label, notice, OPEN_STATES } from "../dom.js";
import { hasRole } from "../session.js";

const TOPICS = ["用地", "规划", "环评", "施工许可", "水电气配套", "资金", "征地拆迁", "其他"];

export async function render(main, _args, { go }) {
  clear(main, h("h1", {}, "会议议定事项"), h("p", { class: "muted", role: "status" }, "正在读取事项…"));
  const everyLayer = hasRole("major_projects_office", "top_leader", "admin");
  const registers = everyLayer || hasRole("service_department", "line_leader");
  const [matters, extra] = await Promise.all([
    all("/api/v1/meeting-matters"),
    registers ? Promise.all([get("/api/v1/org/units"), get("/api/v1/org/lines"), all("/api/v1/projects")]) : null,
  ]);
  matters.sort((a, b) => Number(OPEN_STATES.has(b.state)) - Number(OPEN_STATES.has(a.state)) ||
    (b.meeting_date || "").localeCompare(a.meeting_date || ""));
  const open = matters.filter((m) => OPEN_STATES.has(m.state)).length;
  clear(main,
    h("h1", {}, "会议议定事项"),
    h("p", { class: "summary" }, `共 ${matters.length} 件，未办结 ${open} 件`),
    registers ? h("p", {}, h("a", { class: "button", href: "#register" }, "登记会议议定事项")) : null,
    matters.length ? list(matters) : h("p", { class: "muted" }, "暂无会议议定事项"),
    registers ? registerForm(extra, everyLayer, go) : null);
}

function list(matters) {
  const head = ["事项", "会议", "议定层级", "解决单位", "办结时限", "状态", "下一个时限"];
  return h("div", { class: "scroll" }, h("table", { class: "meetings stack" },
    h("caption", {}, "会议议定事项清单"),
    h("thead", {}, h("tr", {}, head.map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, matters.map((m) => {
      const next = nextClock(m);
      return h("tr", { dataset: { matter: m.id }, class: next && next.working_days_left < 0 ? "late" : "" },
        h("th", { scope: "row", "data-label": "事项" }, h("a", { href: `#/matter/meeting-matters/${m.id}` }, m.title)),
        h("td", { "data-label": "会议" }, `${m.meeting_title || "—"}（${fmtDate(m.meeting_date)}）`),
        h("td", { "data-label": "议定层级" }, label("layer", m.deciding_layer)),
        h("td", { "data-label": "解决单位" }, m.resolving_unit_name || "—"),
        h("td", { "data-label": "办结时限" }, fmtDate(m.resolution_due_on)),
        h("td", { "data-label": "状态" }, label("state", m.state), m.layer > m.deciding_layer ? `（已升至第${m.layer}层）` : ""),
        h("td", { "data-label": "下一个时限" }, next ? `${label("clock", next.kind)}：${daysLeft(next)}` : "—"));
    }))));
}

function registerForm([units, lines, projects], everyLayer, go) {
  const options = (items, text) => items.map((x) => h("option", { value: x.id }, text(x)));
  const title = h("input", { name: "title", required: true, maxlength: 200 });
  const topic = h("select", { name: "topic", required: true }, TOPICS.map((t) => h("option", { value: t }, t)));
  const description = h("textarea", { name: "description", required: true, rows: 4, maxlength: 10000 });
  const meeting = h("input", { name: "meeting_title", required: true, maxlength: 200 });
  const meetingDate = h("input", { name: "meeting_date", type: "date", required: true });
  const layer = h("select", { name: "deciding_layer", required: true },
    h("option", { value: "2" }, "第二层 包保区级领导（线协调会）"),
    everyLayer ? h("option", { value: "3" }, "第三层 区委区政府主要领导") : null);
  const line = h("select", { name: "line" }, h("option", { value: "" }, "（按项目确定）"),
    options(lines.slice().sort((a, b) => a.number - b.number), (l) => l.name));
  const project = h("select", { name: "project" }, h("option", { value: "" }, "（不涉及具体项目）"),
    options(projects.slice().sort((a, b) => a.name.localeCompare(b.name, "zh-CN")), (p) => p.name));
  const unit = h("select", { name: "unit", required: true }, h("option", { value: "" }, "请选择"),
    options(units.filter((u) => u.kind !== "leadership").sort((a, b) => a.name.localeCompare(b.name, "zh-CN")), (u) => u.name));
  const deadline = h("input", { name: "deadline_on", type: "date", required: true });
  const status = h("div", { "aria-live": "polite" });
  const submit = h("button", { type: "submit", class: "primary" }, "登记");
  const form = h("form", { class: "card", id: "register", "aria-labelledby": "register-title" },
    h("h2", { id: "register-title" }, "登记会议议定事项"),
    field("事项标题", title), field("事项类别", topic), field("议定内容", description),
    field("会议名称", meeting), field("会议日期", meetingDate), field("议定层级", layer),
    field("项目（可选）", project, "选择项目时，包保线随项目确定"), field("包保线", line, "不涉及具体项目时必选"),
    field("问题解决单位", unit), field("办结时限", deadline, "到期未办结即超时，逐级上报"),
    submit, status);
  let key = newKey();
  form.addEventListener("input", () => (key = newKey()));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!project.value && !line.value) {
      clear(status, notice("请选择项目或包保线"));
      line.focus();
      return;
    }
    submit.disabled = true;
    try {
      const { data } = await api("/api/v1/meeting-matters", {
        method: "POST", key,
        body: {
          title: title.value.trim(), topic: topic.value, description: description.value.trim(),
          meeting_title: meeting.value.trim(), meeting_date: meetingDate.value,
          deciding_layer: Number(layer.value), resolving_unit_id: unit.value,
          resolving_unit_name: unit.selectedOptions[0].textContent, deadline_on: deadline.value,
          project_id: project.value || null, line_id: project.value ? null : line.value || null,
        },
      });
      go(`#/matter/meeting-matters/${data.id}`);
    } catch (error) {
      clear(status, notice(error.message));
      submit.disabled = false;
    }
  });
  return form;
}
