// The Webhooks page: every delivery attempt, live (long-polls /api/v1/emulator/webhooks/deliveries?wait=…),
// its payload, the endpoint's answer, and a Replay button (Svix's resend).
(() => {
  "use strict";
  const config = JSON.parse(document.getElementById("webhooks-config").textContent);
  const $ = (id) => document.getElementById(id);
  const el = {
    list: $("list"), none: $("list-none"), count: $("count"), live: $("live"), error: $("error"),
    placeholder: $("placeholder"), delivery: $("delivery"), toast: $("toast"),
  };
  const items = new Map(); // attempt id -> item, newest first by insertion below
  let order = [];
  let selected = null;
  let newest = null; // created_at_millis of the newest attempt seen

  function setLive(state, label) {
    el.live.dataset.state = state;
    el.live.querySelector(".live-label").textContent = label;
  }

  let toastTimer = 0;
  function toast(message, kind = "") {
    el.toast.textContent = message;
    el.toast.className = "toast show " + kind;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { el.toast.className = "toast"; }, 2200);
  }

  function time(millis) {
    const d = new Date(millis);
    return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }

  function statusLabel(item) {
    return item.response_status_code ? String(item.response_status_code) : "no answer";
  }

  function node(tag, className, text) {
    const n = document.createElement(tag);
    if (className) n.className = className;
    if (text !== undefined) n.textContent = text;
    return n;
  }

  function renderList() {
    el.list.replaceChildren();
    el.count.textContent = order.length ? String(order.length) : "";
    el.none.hidden = order.length > 0;
    for (const id of order) {
      const item = items.get(id);
      const li = node("li", "item" + (id === selected ? " selected" : "") + (item.fresh ? " fresh" : ""));
      li.setAttribute("role", "option");
      li.dataset.id = id;
      const top = node("div", "item-top");
      top.append(node("span", "item-event", item.event_type || "(deleted message)"));
      top.append(node("span", "pill " + (item.status === "success" ? "status-ok" : "status-fail"), statusLabel(item)));
      top.append(node("time", "item-time", time(item.created_at_millis)));
      const bottom = node("div", "item-bottom");
      bottom.append(node("span", "item-url", item.url));
      if (item.delivery && item.delivery.next_attempt_at_millis) bottom.append(node("span", "item-retry", "retry due"));
      bottom.append(node("span", "item-duration", item.response_duration_ms + " ms"));
      li.append(top, bottom);
      li.addEventListener("click", () => select(id));
      el.list.append(li);
      item.fresh = false;
    }
  }

  function select(id) {
    selected = id;
    const item = items.get(id);
    el.placeholder.hidden = true;
    el.delivery.hidden = false;
    $("d-type").textContent = item.event_type || "(deleted message)";
    $("d-url").textContent = item.url + (item.endpoint_uid ? `  (${item.endpoint_uid})` : "");
    const status = $("d-status");
    status.textContent = item.status === "success" ? `${statusLabel(item)} · delivered` : `${statusLabel(item)} · failed`;
    status.className = "pill " + (item.status === "success" ? "status-ok" : "status-fail");
    const d = item.delivery;
    $("d-delivery").textContent = d ? `message ${d.statusText} after ${d.attempts_made} attempt(s)` +
      (d.next_attempt_at_millis ? `, next retry ${new Date(d.next_attempt_at_millis).toLocaleString()} (emulator clock)` : "") : "";
    $("d-duration").textContent = item.response_duration_ms + " ms";
    $("d-date").textContent = new Date(item.created_at_millis).toLocaleString();
    $("d-trigger").textContent = item.trigger === "manual" ? "replayed" : "scheduled";
    $("d-msg").textContent = item.message_id;
    $("d-project").textContent = "project " + item.project_id;
    $("d-payload").textContent = item.payload === null ? "" : JSON.stringify(item.payload, null, 2);
    $("d-response").textContent = item.response || "(empty body)";
    renderList();
  }

  for (const tab of document.querySelectorAll(".tab")) {
    tab.addEventListener("click", () => {
      for (const t of document.querySelectorAll(".tab")) t.setAttribute("aria-selected", String(t === tab));
      for (const panel of document.querySelectorAll(".panel")) panel.hidden = panel.dataset.panel !== tab.dataset.tab;
    });
  }

  $("d-replay").addEventListener("click", async () => {
    if (!selected) return;
    const response = await fetch(`${config.api}/${encodeURIComponent(selected)}/replay`, { method: "POST" });
    toast(response.ok ? "Replay sent: its attempt appears at the top" : await response.text(), response.ok ? "" : "bad");
  });

  function take(list, fresh) {
    let added = false;
    for (const item of list.slice().reverse()) { // oldest first, so the newest ends on top
      if (items.has(item.id)) { items.set(item.id, { ...items.get(item.id), ...item }); continue; }
      item.fresh = fresh;
      items.set(item.id, item);
      order.unshift(item.id);
      newest = Math.max(newest ?? 0, item.created_at_millis);
      added = true;
    }
    return added;
  }

  async function poll() {
    let first = true;
    for (;;) {
      try {
        const params = new URLSearchParams({ limit: "200" });
        if (!first) { params.set("wait", "25"); params.set("since", String((newest ?? 0) + 1)); }
        const response = await fetch(`${config.api}?${params}`);
        if (!response.ok) throw new Error(await response.text());
        const body = await response.json();
        if (first && newest === null) newest = body.now_millis;
        if (take(body.items, !first) || first) renderList();
        el.error.hidden = true;
        setLive("live", "Live");
        first = false;
      } catch (error) {
        setLive("offline", "Offline");
        el.error.textContent = "Cannot reach the emulator: " + error.message;
        el.error.hidden = false;
        await new Promise((resolve) => setTimeout(resolve, 2000));
      }
    }
  }

  poll();
})();
