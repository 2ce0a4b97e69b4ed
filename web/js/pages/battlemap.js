// 挂图作战 battle map (§三(三)): every project by line and stage, coloured by its state; filterable by line,
// class, street, 批前提速 and 省市重大; a click opens the project.

import { layersOf, loadBoard, STATES } from "../board.js";
import { h, clear, field, fmtTime, label, LABELS, STAGES } from "../dom.js";

let firstRender = true;

export async function render(main) {
  clear(main, h("h1", {}, "挂图作战"), h("p", { class: "muted", role: "status" }, "正在读取项目…"));
  const board = await loadBoard();
  const projects = board.projects;
  const layers = layersOf(board);
  const lines = [...new Map(projects.filter((p) => p.line_id).map((p) => [p.line_id, p])).values()]
    .map((p) => ({ id: p.line_id, number: p.line_number, name: p.line_name }))
    .sort((a, b) => a.number - b.number);

  const units = [...new Map(projects.map((p) => [p.responsible_unit_id, p.responsible_unit_name])).entries()].sort(
    (a, b) => a[1].localeCompare(b[1], "zh-CN"),
  );
  const lineSelect = h("select", { name: "line" }, h("option", { value: "" }, "全部"),
    lines.map((l) => h("option", { value: l.id }, l.name)), h("option", { value: "none" }, "未分线"));
  const classSelect = h("select", { name: "class" }, h("option", { value: "" }, "全部"),
    Object.entries(LABELS.project_class).map(([v, t]) => h("option", { value: v }, t)));
  const unitSelect = h("select", { name: "unit" }, h("option", { value: "" }, "全部"),
    units.map(([id, name]) => h("option", { value: id }, name)));
  const fastTrack = h("input", { type: "checkbox", name: "fast_track" });
  const provincial = h("input", { type: "checkbox", name: "provincial" });
  const summary = h("p", { class: "summary", role: "status" });
  const legend = h("ul", { class: "legend", "aria-label": "图例" });
  const grid = h("div", { class: "board" });

  const filters = h("form", { class: "filters", "aria-label": "筛选" },
    field("包保线", lineSelect), field("项目类别", classSelect), field("责任单位（街道/产业办）", unitSelect),
    h("label", { class: "check" }, fastTrack, "批前提速"),
    h("label", { class: "check" }, provincial, "省市重大"));
  filters.addEventListener("change", draw);
  filters.addEventListener("submit", (e) => e.preventDefault());

  function visible(p) {
    if (lineSelect.value === "none" ? p.line_id : lineSelect.value && p.line_id !== lineSelect.value) return false;
    if (classSelect.value && p.project_class !== classSelect.value) return false;
    if (unitSelect.value && p.responsible_unit_id !== unitSelect.value) return false;
    if (fastTrack.checked && !p.fast_track) return false;
    if (provincial.checked && !p.provincial_municipal) return false;
    return true;
  }

  function draw() {
    const shown = projects.filter(visible);
    const counts = Object.fromEntries(STATES.map(([k]) => [k, 0]));
    for (const p of shown) counts[p.state]++;
    clear(legend, STATES.map(([k, t]) => h("li", {}, h("span", { class: `dot s-${k}` }), `${t} ${counts[k]}`)));
    summary.textContent = `共 ${shown.length} 个项目（可见 ${projects.length} 个），截至 ${fmtTime(board.as_of)}`;
    const groups = [...lines.map((l) => ({ key: l.id, title: l.name })), { key: null, title: "未分线（待重大项目办确定）" }];
    const sections = [];
    for (const g of groups) {
      const mine = shown.filter((p) => (p.line_id || null) === g.key);
      if (!mine.length) continue;
      sections.push(
        h("section", { class: "line", "aria-label": g.title },
          h("h2", {}, g.title, h("small", {}, ` ${mine.length} 个项目`)),
          h("div", { class: "stages" },
            STAGES.map(([stage, stageName]) => {
              const inStage = mine.filter((p) => p.stage === stage);
              return h("div", { class: "stage" },
                h("h3", {}, stageName, h("small", {}, ` ${inStage.length}`)),
                h("div", { class: "cells" }, inStage.map(cell)));
            }))));
    }
    clear(grid, sections.length ? sections : h("p", { class: "muted" }, "没有符合条件的项目"));
  }

  function cell(p) {
    const layer = layers.get(p.project_id) || 1;
    const state = (STATES.find(([k]) => k === p.state) || [p.state, p.state])[1];
    const text = `${p.name}｜${p.responsible_unit_name}｜${label("project_class", p.project_class)}｜${state}${
      p.reason ? `：${p.reason}` : ""}${layer > 1 ? `｜问题已升至第${layer}层` : ""}`;
    return h("a", { class: `cell s-${p.state}`, href: `#/project/${p.project_id}`, title: text, "aria-label": text,
      dataset: { project: p.project_id, state: p.state } }, layer > 1 ? String(layer) : "");
  }

  clear(main, h("h1", {}, "挂图作战"), filters, h("div", { class: "bar" }, summary, legend), grid);
  draw();
  await new Promise((resolve) => requestAnimationFrame(resolve));
  if (firstRender) {
    performance.mark("battlemap:rendered");
    firstRender = false;
  }
}
