// 反映问题: a project's responsible unit reports a problem (难点、堵点) with photos from the site (§三(二)
// 在线反映). The create carries an Idempotency-Key, and so does each photo, so a retry on a poor mobile
// network never makes a second problem or a second copy of a photo.

import { all, api, newKey } from "../api.js";
import { h, clear, field, notice } from "../dom.js";

const TOPICS = ["用地", "规划", "环评", "施工许可", "水电气配套", "资金", "征地拆迁", "其他"];
//: Photos above this are scaled down in the browser before upload (a phone photo is 3–8 MB).
const SHRINK_ABOVE = 2 * 1024 * 1024;

export async function render(main, _args, { go }) {
  clear(main, h("h1", {}, "反映问题"), h("p", { class: "muted", role: "status" }, "正在读取项目…"));
  const projects = (await all("/api/v1/projects")).sort((a, b) => a.name.localeCompare(b.name, "zh-CN"));
  const project = h("select", { name: "project", required: true }, h("option", { value: "" }, "请选择项目"),
    projects.map((p) => h("option", { value: p.id }, p.name)));
  const title = h("input", { name: "title", required: true, maxlength: 200 });
  const topic = h("select", { name: "topic", required: true }, TOPICS.map((t) => h("option", { value: t }, t)));
  const description = h("textarea", { name: "description", required: true, rows: 5, maxlength: 10000 });
  const help = h("textarea", { name: "help", rows: 2, maxlength: 10000 });
  const photos = h("input", { name: "photos", type: "file", accept: "image/jpeg,image/png,image/heic", multiple: true, capture: "environment" });
  const previews = h("div", { class: "photos" });
  const status = h("div", { "aria-live": "polite" });
  const button = h("button", { type: "submit", class: "primary" }, "提交");
  photos.addEventListener("change", async () => {
    clear(previews);
    for (const file of photos.files) previews.append(h("figure", {}, h("img", { src: await dataUrl(file), alt: file.name }), h("figcaption", {}, file.name)));
  });
  const form = h("form", { class: "card report", "aria-labelledby": "report-title" },
    h("h1", { id: "report-title" }, "反映问题"),
    projects.length ? null : notice("您没有可反映问题的项目", "info"),
    field("项目", project), field("问题标题", title), field("问题类别", topic),
    field("情况说明", description), field("需要协调解决的事项（可选）", help),
    field("现场照片（可多张）", photos, "JPEG、PNG 或 HEIC；较大的照片会先压缩再上传"), previews,
    button, status);
  // One key per problem being written: a second press (or a retry) after a lost answer replays the first.
  let key = newKey();
  form.addEventListener("input", () => (key = newKey()));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    clear(status, notice("正在提交…", "info"));
    try {
      const { data: created } = await api("/api/v1/problems", {
        method: "POST", key,
        body: { project_id: project.value, title: title.value.trim(), topic: topic.value,
          description: description.value.trim(), help_requested: help.value.trim() || null },
      });
      for (const [i, file] of [...photos.files].entries()) {
        const form = new FormData();
        form.append("file", await shrink(file), file.name);
        await api(`/api/v1/problems/${created.id}/attachments`, { method: "POST", form, key: `${key}-photo-${i}` });
      }
      clear(status, notice("已提交，等待受理", "ok"));
      go(`#/matter/problems/${created.id}`);
    } catch (error) {
      clear(status, notice(error.message));
      button.disabled = false;
    }
  });
  clear(main, form);
}

function dataUrl(blob) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = reject;
    reader.readAsDataURL(blob);
  });
}

async function shrink(file) {
  if (file.size <= SHRINK_ABOVE || !["image/jpeg", "image/png"].includes(file.type)) return file;
  const bitmap = await createImageBitmap(file);
  const scale = Math.min(1, 2048 / Math.max(bitmap.width, bitmap.height));
  const canvas = document.createElement("canvas");
  canvas.width = Math.round(bitmap.width * scale);
  canvas.height = Math.round(bitmap.height * scale);
  canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  return new Promise((resolve) => canvas.toBlob((b) => resolve(b || file), "image/jpeg", 0.85));
}
