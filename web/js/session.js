// Where the tokens live (docs/console.md, OWASP HTML5 Security and JWT cheat sheets):
// - the access token (15 minutes) only in this module's memory: never in Web Storage, a cookie or a URL,
//   so nothing on disk or in another tab holds it, and a reload simply asks for a new one;
// - the refresh token in sessionStorage (this tab only, gone when the tab closes; never localStorage),
//   so a reload or a typed URL keeps the person signed in. The registry rotates it on every use and
//   revokes the whole login if a spent one comes back; the console also drops it after IDLE_MS unused.
// The Content-Security-Policy (scripts from the platform only) and DOM building without HTML strings are
// what keep a script from reading either.

const KEY = "lkg.console.refresh";
export const IDLE_MS = 30 * 60 * 1000;

let access = null; // { token, expiresAt, roles, accountId, person, name }
let refreshing = null; // one refresh at a time: a refresh token must never be sent twice

function decodeClaims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const json = decodeURIComponent(
      Array.from(atob(part), (c) => "%" + c.charCodeAt(0).toString(16).padStart(2, "0")).join(""),
    );
    return JSON.parse(json);
  } catch {
    return {};
  }
}

function keep(answer) {
  const claims = decodeClaims(answer.access_token);
  access = {
    token: answer.access_token,
    expiresAt: Date.now() + (answer.expires_in - 30) * 1000,
    roles: answer.roles || claims.roles || [],
    accountId: answer.account_id,
    person: claims.person_id || claims.sub,
    name: claims.name || claims.preferred_username || "",
  };
  sessionStorage.setItem(KEY, JSON.stringify({ token: answer.refresh_token, usedAt: Date.now() }));
}

function storedRefresh() {
  const raw = sessionStorage.getItem(KEY);
  if (!raw) return null;
  try {
    const saved = JSON.parse(raw);
    if (Date.now() - saved.usedAt > IDLE_MS) {
      sessionStorage.removeItem(KEY);
      return null;
    }
    return saved.token;
  } catch {
    sessionStorage.removeItem(KEY);
    return null;
  }
}

export class LoginError extends Error {
  constructor(problem) {
    super(problem.detail || problem.title || "登录失败");
    this.code = problem.code;
  }
}

async function post(path, body) {
  return fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify(body),
    credentials: "omit",
  });
}

export async function signIn(username, password) {
  const response = await post("/api/v1/auth/login", { username, password });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new LoginError(body);
  keep(body);
  return access;
}

/** The current access token, refreshed when it is about to expire; null when signed out. */
export async function accessToken({ force = false } = {}) {
  if (access && !force && Date.now() < access.expiresAt) return access.token;
  if (!refreshing) refreshing = refresh().finally(() => (refreshing = null));
  await refreshing;
  return access ? access.token : null;
}

async function refresh() {
  const token = storedRefresh();
  access = null;
  if (!token) return;
  sessionStorage.removeItem(KEY); // spent either way: never sent twice
  const response = await post("/api/v1/auth/refresh", { refresh_token: token });
  if (response.ok) keep(await response.json());
}

export async function signOut() {
  const token = storedRefresh();
  access = null;
  sessionStorage.removeItem(KEY);
  if (token) await post("/api/v1/auth/logout", { refresh_token: token }).catch(() => undefined);
}

export function who() {
  return access;
}

export function hasRole(...roles) {
  return !!access && roles.some((r) => access.roles.includes(r));
}
