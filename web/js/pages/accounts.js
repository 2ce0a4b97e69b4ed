// 账号 (docs/accounts.md): 重大项目办 opens accounts for the people of the org directory (their roles follow
// the posts they hold today), disables and enables them, lifts a lockout and resets a password; only a
// system administrator opens or manages a system administrator's account. The registry decides (403 in
// Chinese otherwise). The initial password is typed by the office and never shown again.

import { all, api, get, newKey } from "../api.js";
import { h, clear, field, fmtTime, label, notice } from "../dom.js";
import { reload } from "../forms.js";
import { hasRole } from "../session.js";

const STATUS = { active: "正常", disabled: "已停用", locked: "暂时锁定" };

export async function render(main) {
  clear(main, h("h1", {}, "账号管理"), h("p", { class: "muted", role: "status" }, "正在读取账号…"));
  const [accounts, people] = await Promise.all([all("/api/v1/auth/accounts"), get("/api/v1/org/people")]);
  const status = h("div", { "aria-live": "polite", id: "account-status" });
  const head = ["用户名", "姓名", "角色", "状态", "操作"];
  clear(main,
    h("h1", {}, "账号管理"),
    h("p", { class: "summary" }, `共 ${accounts.length} 个账号`),
    createForm(accounts, people),
    status,
    h("div", { class: "scroll" }, h("table", { class: "accounts stack" },
      h("caption", {}, "账号"),
      h("thead", {}, h("tr", {}, head.map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, accounts.map((a) => h("tr", { dataset: { account: a.username } },
        h("th", { scope: "row", "data-label": "用户名" }, a.username),
        h("td", { "data-label": "姓名" }, a.person_name || "—"),
        h("td", { "data-label": "角色" }, a.roles.map((r) => label("role", r)).join("、") || "（无）"),
        h("td", { "data-label": "状态" }, STATUS[a.status] || a.status, a.locked_until ? `（至 ${fmtTime(a.locked_until)}）` : ""),
        h("td", { "data-label": "操作" }, actions(a, status))))))));
}

function createForm(accounts, people) {
  const taken = new Set(accounts.map((a) => a.person_id));
  const free = people.filter((p) => p.active !== false && !taken.has(p.id)).sort((a, b) => a.name.localeCompare(b.name, "zh-CN"));
  const person = h("select", { name: "person", required: true }, h("option", { value: "" }, "请选择人员"),
    free.map((p) => h("option", { value: p.id }, p.name)));
  const username = h("input", { name: "username", required: true, autocomplete: "off", maxlength: 64, pattern: "[a-z0-9][a-z0-9._\\-]{2,63}" });
  const password = h("input", { name: "password", type: "password", required: true, minlength: 10, autocomplete: "new-password" });
  const admin = hasRole("admin") ? h("input", { type: "checkbox", name: "system_admin" }) : null;
  const status = h("div", { "aria-live": "polite" });
  const submit = h("button", { type: "submit", class: "primary" }, "开通账号");
  const form = h("form", { class: "card", "aria-labelledby": "new-account" },
    h("h2", { id: "new-account" }, "开通账号"),
    field("人员（组织目录）", person, "角色按其今日所任岗位自动确定"),
    field("用户名", username, "小写字母、数字、点、下划线或短横线"),
    field("初始密码", password, "至少10个字符；请当面或电话告知本人，并提醒其登录后修改"),
    admin ? h("label", { class: "check" }, admin, "系统管理员") : null,
    submit, status);
  let key = newKey();
  form.addEventListener("input", () => (key = newKey()));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    try {
      await api("/api/v1/auth/accounts", {
        method: "POST", key,
        body: { person_id: person.value, username: username.value.trim(), password: password.value, system_admin: admin ? admin.checked : false },
      });
      clear(status, notice(`已开通账号 ${username.value.trim()}`, "ok"));
      reload(800);
    } catch (error) {
      clear(status, notice(error.message));
      submit.disabled = false;
    }
  });
  return form;
}

/** The buttons of one account; each reads the account's ETag first (If-Match), then acts. */
function actions(a, status) {
  const act = (verb, text, body) => h("button", { type: "button", onclick: async (event) => {
    const button = event.currentTarget;
    const payload = body ? body() : undefined;
    if (body && !payload) return;
    button.disabled = true;
    try {
      const { etag } = await api(`/api/v1/auth/accounts/${a.id}`);
      await api(`/api/v1/auth/accounts/${a.id}/${verb}`, { method: "POST", etag, body: payload });
      clear(status, notice(`${a.username}：已${text}`, "ok"));
      reload();
    } catch (error) {
      clear(status, notice(`${a.username}：${error.message}`));
      button.disabled = false;
    }
  } }, text);
  return h("div", { class: "row-actions" },
    a.status === "disabled" ? act("enablements", "启用") : act("disablements", "停用"),
    a.status === "locked" ? act("unlocks", "解锁") : null,
    resetForm(a, status));
}

function resetForm(a, status) {
  const password = h("input", { type: "password", name: "new_password", required: true, minlength: 10, autocomplete: "new-password" });
  const form = h("form", { class: "inline", "aria-label": `重置 ${a.username} 的密码` },
    field(`${a.username} 的新密码`, password), h("button", { type: "submit" }, "重置密码"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const { etag } = await api(`/api/v1/auth/accounts/${a.id}`);
      await api(`/api/v1/auth/accounts/${a.id}/password-changes`, { method: "POST", etag, body: { new_password: password.value } });
      clear(status, notice(`${a.username}：密码已重置`, "ok"));
      password.value = "";
    } catch (error) {
      clear(status, notice(`${a.username}：${error.message}`));
    }
  });
  return h("details", {}, h("summary", {}, "重置密码"), form);
}
