// The one way the console calls the platform: the public HTTP API with the signed-in person's token.
// Errors arrive as application/problem+json; the console branches on `code` and shows `detail` (zh-CN).

import { accessToken } from "./session.js";

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `请求失败（${status}）`);
    this.status = status;
    this.code = problem.code || "error";
    this.problem = problem;
  }
}

/** A fresh key for each create; the same one on a retry of it (mobile networks retry). */
export function newKey() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const x = Array.from(b, (v) => v.toString(16).padStart(2, "0")).join("");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

let onSignedOut = () => {};
export function whenSignedOut(callback) {
  onSignedOut = callback;
}

export async function api(path, { method = "GET", body, etag, key, form, accept = "application/json" } = {}) {
  for (let attempt = 0; attempt < 2; attempt++) {
    const token = await accessToken({ force: attempt > 0 });
    if (!token) {
      onSignedOut();
      throw new ApiError(401, { code: "unauthenticated", detail: "请先登录" });
    }
    const headers = { Authorization: `Bearer ${token}`, Accept: accept };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (etag) headers["If-Match"] = etag;
    if (key) headers["Idempotency-Key"] = key;
    const response = await fetch(path, {
      method,
      headers,
      body: form || (body === undefined ? undefined : JSON.stringify(body)),
      credentials: "omit",
    });
    if (response.status === 401 && attempt === 0) continue; // expired meanwhile: refresh once
    if (!response.ok) {
      const problem = await response.json().catch(() => ({}));
      if (response.status === 401) onSignedOut();
      throw new ApiError(response.status, problem);
    }
    const type = response.headers.get("Content-Type") || "";
    const data = type.includes("json") ? await response.json() : await response.blob();
    return { data, etag: response.headers.get("ETag"), status: response.status, response };
  }
  throw new ApiError(401, { code: "unauthenticated", detail: "请先登录" });
}

export async function get(path) {
  return (await api(path)).data;
}

/** Every item of a paginated list (`limit`, `cursor`, `next_cursor`), page after page. */
export async function all(path, { limit = 200, max = 100 } = {}) {
  const items = [];
  let cursor = null;
  for (let page = 0; page < max; page++) {
    const sep = path.includes("?") ? "&" : "?";
    const url = `${path}${sep}limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
    const data = await get(url);
    items.push(...data.items);
    cursor = data.next_cursor;
    if (!cursor) break;
  }
  return items;
}

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : "";
}
