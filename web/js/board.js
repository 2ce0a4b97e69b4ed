// What the battle map and the daily dispatch show: scoring's dispatch board (日调度, docs/reports.md),
// GET /api/v1/reports/dispatch-board, one request that answers, for every project the person sees, its
// state (worst first: unrouted, breached, stalled approval, warning, on track) with the reason, and per line
// the matters due today and tomorrow, overdue and escalated since the previous working day.

import { get } from "./api.js";

export const STATES = [
  ["breached", "已超时/已升级"],
  ["stalled_approval", "审批停滞"],
  ["warning", "临近时限"],
  ["unrouted", "未分线"],
  ["on_track", "正常推进"],
];

export async function loadBoard() {
  return get("/api/v1/reports/dispatch-board");
}

/** project id → the highest layer an open matter of it has reached (from the board's matter lists). */
export function layersOf(board) {
  const layers = new Map();
  for (const line of board.lines) {
    for (const key of ["overdue", "escalated", "due_today", "due_tomorrow"]) {
      for (const m of line[key] || []) {
        if (m.project_id) layers.set(m.project_id, Math.max(layers.get(m.project_id) || 1, m.layer || 1));
      }
    }
  }
  return layers;
}

export async function loadLines() {
  const lines = await get("/api/v1/org/lines");
  return lines.sort((a, b) => a.number - b.number);
}
