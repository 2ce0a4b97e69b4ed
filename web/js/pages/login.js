// 登录: a demo or real account of the registry (docs/accounts.md).

import { h, clear, field, notice } from "../dom.js";
import { signIn } from "../session.js";

export function render(main, _args, { go }) {
  const username = h("input", { name: "username", autocomplete: "username", required: true, autocapitalize: "none" });
  const password = h("input", { name: "password", type: "password", autocomplete: "current-password", required: true });
  const status = h("div", { "aria-live": "polite" });
  const button = h("button", { type: "submit", class: "primary" }, "登录");
  const form = h(
    "form",
    { class: "card login", "aria-labelledby": "login-title" },
    h("h1", { id: "login-title" }, "登录"),
    h("p", { class: "muted" }, "临空港重大产业项目落地建设在线（三层八线）"),
    field("用户名", username),
    field("密码", password),
    button,
    status,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    clear(status);
    try {
      await signIn(username.value.trim(), password.value);
      const back = sessionStorage.getItem("lkg.console.after");
      sessionStorage.removeItem("lkg.console.after");
      go(back && back !== "#/login" ? back : "#/map");
    } catch (error) {
      clear(status, notice(error.message));
      password.select();
    } finally {
      button.disabled = false;
    }
  });
  if (location.hash && !location.hash.startsWith("#/login")) sessionStorage.setItem("lkg.console.after", location.hash);
  clear(main, form);
  username.focus();
}
