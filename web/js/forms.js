// What the pages that act share: an action form (POST with If-Match, the answer shown in Chinese, the page
// read again on success), and a button that downloads a file the API answers (Word, Excel) with the token.

import { api } from "./api.js";
import { h, clear, notice } from "./dom.js";

/** Read the current page again (after an action changed what it shows). */
export function reload(delay = 400) {
  setTimeout(() => window.dispatchEvent(new HashChangeEvent("hashchange")), delay);
}

/**
 * A form that POSTs `body(form)` to `path` (with `etag` as If-Match and `key` as Idempotency-Key when
 * given). `status` is the live region that says what happened; on success the page is read again.
 */
export function actionForm({ path, etag, key, body = () => ({}), ok, status, button, primary = true, fields = [], name }) {
  const submit = h("button", { type: "submit", class: primary ? "primary" : null }, button);
  const form = h("form", { class: "action", "aria-label": name || button }, fields, submit);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    try {
      await api(path, { method: "POST", body: body(form), etag, key: key ? key() : undefined });
      clear(status, notice(ok, "ok"));
      reload();
    } catch (error) {
      clear(status, notice(error.status === 412 ? "已被他人处理，请刷新后重试" : error.message));
      submit.disabled = false;
    }
  });
  return form;
}

/** A button that downloads `path` (the API answers the file) as `filename`. */
export function download(path, filename, text) {
  const button = h("button", { type: "button", class: "link" }, `下载 ${text}`);
  button.addEventListener("click", async () => {
    const { data } = await api(path, { accept: "*/*" });
    const a = h("a", { href: URL.createObjectURL(data), download: filename });
    document.body.append(a);
    a.click();
    setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
  });
  return button;
}
