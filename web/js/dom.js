// DOM building without HTML strings: every value goes in as text, so data from the API cannot become
// markup (no innerHTML anywhere in the console). Formatting of dates, money and the platform's words.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "style") Object.assign(el.style, value);
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A labelled form field: the label names the control, so screen readers and keyboards find it. */
let fieldSeq = 0;
export function field(labelText, control, hint) {
  const id = control.id || `f${++fieldSeq}`;
  control.id = id;
  const hintEl = hint ? h("small", { class: "hint", id: `${id}-hint` }, hint) : null;
  if (hintEl) control.setAttribute("aria-describedby", hintEl.id);
  return h("div", { class: "field" }, h("label", { for: id }, labelText), control, hintEl);
}

export function notice(message, kind = "error") {
  return h("p", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status" }, message);
}

const TZ = "Asia/Shanghai";
const dateFmt = new Intl.DateTimeFormat("zh-CN", { timeZone: TZ, year: "numeric", month: "2-digit", day: "2-digit" });
const timeFmt = new Intl.DateTimeFormat("zh-CN", {
  timeZone: TZ, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false,
});

export function fmtDate(value) {
  if (!value) return "—";
  if (/^\d{4}-\d{2}-\d{2}$/.test(value)) return value;
  return dateFmt.format(new Date(value)).replaceAll("/", "-");
}

export function fmtTime(value) {
  if (!value) return "—";
  return timeFmt.format(new Date(value)).replaceAll("/", "-");
}

/** Money arrives as a decimal string in yuan; people read 万元 (and 亿元 above 100 million). */
export function fmtMoney(yuan) {
  if (yuan === null || yuan === undefined) return "—";
  const n = Number(yuan);
  if (Math.abs(n) >= 1e8) return `${(n / 1e8).toFixed(2)} 亿元`;
  return `${(n / 1e4).toFixed(2)} 万元`;
}

export const STAGES = [
  ["preliminary", "前期"], ["approval", "审批"], ["construction", "开工"],
  ["investment", "投资"], ["completion", "竣工"], ["full_production", "达产达效"],
];

export const LABELS = {
  project_class: { preliminary: "前期项目", new_start: "计划新开工", continuing: "结转续建", completing: "完工投产" },
  state: {
    reported: "待受理", accepted: "已受理", assigned: "已交办", answered: "已答复", in_progress: "办理中",
    resolved: "已解决", closed: "已销号", returned: "已退回", withdrawn: "已撤回", merged: "已合并",
  },
  clock: { acceptance: "受理时限", reply: "答复时限（3个工作日）", progress: "进展报告（每5个工作日）", resolution: "办结时限" },
  clockState: { running: "计时中", met: "已按时", breached: "已超时", cancelled: "已取消" },
  layer: { 1: "第一层 项目责任单位", 2: "第二层 包保区级领导", 3: "第三层 区委区政府主要领导" },
  item: {
    planned: "未申报", submitted: "已申报", accepted: "已受理", supplement_requested: "待补正",
    resubmitted: "已补正", granted: "已批复", rejected: "未通过", withdrawn: "已撤回",
  },
  grade: { excellent: "优秀", pass: "合格", fail: "不合格" },
  role: {
    unit_user: "项目责任单位", line_leader: "包保区级领导", service_department: "综合服务部门",
    top_leader: "区委区政府主要领导", major_projects_office: "重大项目办", approval_bureau: "行政审批局",
    statistics_bureau: "统计局", supervision_office: "督查室", admin: "系统管理员", assessment_office: "考评办",
  },
};

export function label(group, value) {
  return (LABELS[group] && LABELS[group][value]) || value || "—";
}

export const OPEN_STATES = new Set(["reported", "accepted", "assigned", "answered", "in_progress", "resolved"]);
