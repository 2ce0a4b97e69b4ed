// What the battle map and the daily dispatch show of each project: its line, stage and state.
//
// Until scoring's dispatch board (GET /api/v1/reports/dispatch-board, docs/reports.md) serves its
// per-project list, the state is worked out here from two public lists the person may read: the
// registry's projects (line, stage, class, flags; unrouted when it has no line) and the issues service's
// matters (open problems with their clocks and breaches; system-opened ones whose cause is a stalled
// approval). Both are read in parallel, each line's projects on its own request chain.

import { all, get } from "./api.js";
import { OPEN_STATES } from "./dom.js";

export const STATES = [
  ["breached", "已超时/已升级"],
  ["stalled", "审批停滞"],
  ["warning", "临近时限"],
  ["unrouted", "未分线"],
  ["on_track", "正常推进"],
];

export async function loadLines() {
  const lines = await get("/api/v1/org/lines");
  return lines.sort((a, b) => a.number - b.number);
}

export async function loadProjects(lines) {
  const chains = lines.map((line) => all(`/api/v1/projects?line_id=${line.id}`));
  chains.push(all("/api/v1/projects?unrouted=true"));
  return (await Promise.all(chains)).flat();
}

export async function loadOpenMatters() {
  const matters = await all("/api/v1/problems");
  return matters.filter((m) => OPEN_STATES.has(m.state));
}

/** project id → { state, layer, matters } from the open matters. */
export function statesOf(projects, matters) {
  const byProject = new Map();
  for (const m of matters) {
    if (!m.project_id) continue;
    if (!byProject.has(m.project_id)) byProject.set(m.project_id, []);
    byProject.get(m.project_id).push(m);
  }
  const result = new Map();
  for (const p of projects) {
    const open = byProject.get(p.id) || [];
    const layer = Math.max(1, ...open.map((m) => m.layer));
    let state = "on_track";
    if (!p.line_id) state = "unrouted";
    else if (open.some((m) => m.breaches?.length || m.clocks?.some((c) => c.state === "breached") || m.layer > 1))
      state = "breached";
    else if (open.some((m) => (m.cause_key || "").startsWith("approval.stalled"))) state = "stalled";
    else if (open.some((m) => m.clocks?.some((c) => c.state === "running" && c.warned_at))) state = "warning";
    result.set(p.id, { state, layer, matters: open });
  }
  return result;
}
