// 消息: the person's inbox, live. The live stream is opened with the notifier's single-use stream ticket
// (POST /api/v1/inbox/stream-tickets with the bearer token, then GET /api/v1/inbox/stream?ticket=…): the
// token itself never goes into a URL. It is read with fetch (not EventSource) so that a reconnect sends
// Last-Event-ID and nothing is missed, and so that a spent ticket is never retried on its own.

import { api, get } from "../api.js";
import { h, clear, fmtTime, notice } from "../dom.js";

export async function render(main, _args, { refreshUnread }) {
  const list = h("ul", { class: "messages", "aria-live": "polite" });
  const live = h("span", { class: "live", role: "status" }, "连接中…");
  const status = h("div");
  const readAll = h("button", { type: "button" }, "全部标为已读");
  readAll.addEventListener("click", async () => {
    try {
      await api("/api/v1/inbox/read-all", { method: "POST" });
      list.querySelectorAll(".unread").forEach((li) => li.classList.remove("unread"));
      refreshUnread();
    } catch (error) {
      clear(status, notice(error.message));
    }
  });
  clear(main, h("h1", {}, "消息 ", live), h("p", {}, readAll), status, list);

  const page = await get("/api/v1/inbox/messages?limit=50");
  let lastSeq = 0;
  for (const m of page.items) {
    list.append(item(m));
    lastSeq = Math.max(lastSeq, m.seq);
  }
  if (!page.items.length) list.append(h("li", { class: "muted empty" }, "暂无消息"));

  const controller = new AbortController();
  (async () => {
    let delay = 1000;
    while (!controller.signal.aborted) {
      try {
        lastSeq = await stream(controller.signal, lastSeq, (m) => {
          list.querySelector(".empty")?.remove();
          if (!list.querySelector(`[data-seq="${m.seq}"]`)) list.prepend(item(m));
          refreshUnread();
        }, (text) => (live.textContent = text));
        delay = 1000;
      } catch (error) {
        if (controller.signal.aborted) return;
        live.textContent = "连接中断，稍后重连";
      }
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 30000);
    }
  })();
  return () => controller.abort();
}

function item(m) {
  const kind = (m.kind || "").startsWith("meeting_matter") ? "meeting-matters" : "problems";
  return h("li", { class: `message${m.read_at ? "" : " unread"}${m.urgent ? " urgent" : ""}`, dataset: { seq: m.seq } },
    h("h2", {}, m.matter_id ? h("a", { href: `#/matter/${kind}/${m.matter_id}` }, m.title) : m.title),
    h("p", { class: "pre" }, m.body),
    h("time", {}, fmtTime(m.created_at)));
}

/** One connection: returns the last seq seen when the server ends it. */
async function stream(signal, lastSeq, onMessage, onState) {
  const { data: ticket } = await api("/api/v1/inbox/stream-tickets", { method: "POST" });
  const headers = { Accept: "text/event-stream" };
  if (lastSeq) headers["Last-Event-ID"] = String(lastSeq);
  const response = await fetch(`/api/v1/inbox/stream?ticket=${encodeURIComponent(ticket.ticket)}`, {
    headers, signal, credentials: "omit", cache: "no-store",
  });
  if (!response.ok || !response.body) throw new Error(`stream ${response.status}`);
  onState("实时");
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const fields = { event: "message", data: "" };
      for (const line of frame.split("\n")) {
        if (line.startsWith(":")) continue;
        const at = line.indexOf(":");
        const name = at < 0 ? line : line.slice(0, at);
        const val = at < 0 ? "" : line.slice(at + 1).replace(/^ /, "");
        if (name === "data") fields.data += (fields.data ? "\n" : "") + val;
        else fields[name] = val;
      }
      if (fields.event === "message" && fields.data) {
        const m = JSON.parse(fields.data);
        lastSeq = Math.max(lastSeq, m.seq);
        onMessage(m);
      } else if (fields.event === "end") {
        onState("已断开，重新连接…");
        return lastSeq;
      }
    }
  }
  return lastSeq;
}
