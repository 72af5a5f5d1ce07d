// The Requests page: the last API calls (GET /api/v1/emulator/requests), filtered by path, status and project,
// refreshed every second; one call's request and answer side by side. All data goes in as text, never as markup.
(() => {
  "use strict";

  const config = JSON.parse(document.getElementById("requests-config").textContent);
  const $ = (id) => document.getElementById(id);
  const el = { list: $("list"), count: $("count"), path: $("path"), status: $("status"), project: $("project"),
               none: $("none"), error: $("error"), clear: $("clear"), placeholder: $("placeholder"), detail: $("detail") };
  const state = { items: [], selected: null, projects: new Set() };

  function h(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text != null) node.textContent = text;
    return node;
  }

  function statusClass(status) {
    return status >= 500 ? "server-error" : status >= 400 ? "client-error" : "ok";
  }

  function pretty(body) {
    try { return JSON.stringify(JSON.parse(body), null, 2); } catch { return body; }
  }

  function headerText(headers) {
    return Object.entries(headers).map(([k, v]) => `${k}: ${v}`).join("\n");
  }

  function render() {
    el.count.textContent = state.items.length ? String(state.items.length) : "";
    el.none.hidden = state.items.length > 0;
    el.list.replaceChildren(...state.items.map((entry) => {
      const item = h("li", "item req-item" + (entry.id === state.selected ? " selected" : ""));
      item.dataset.id = entry.id;
      item.setAttribute("role", "option");
      const top = h("div", "req-top");
      top.append(h("span", "req-method", entry.method), h("span", "req-path", entry.path),
                 h("span", "req-status " + statusClass(entry.status), String(entry.status)));
      const bottom = h("div", "req-bottom");
      bottom.append(h("span", null, entry.time.slice(11, 23)), h("span", null, `${entry.duration_ms} ms`));
      if (entry.access_type) bottom.append(h("span", null, entry.access_type));
      if (entry.known_error) bottom.append(h("span", "req-error", entry.known_error));
      item.append(top, bottom);
      item.addEventListener("click", () => { state.selected = entry.id; render(); });
      return item;
    }));
    for (const entry of state.items) {
      if (entry.project_id && !state.projects.has(entry.project_id)) {
        state.projects.add(entry.project_id);
        el.project.append(new Option(entry.project_id, entry.project_id));
      }
    }
    const entry = state.items.find((e) => e.id === state.selected);
    el.placeholder.hidden = Boolean(entry);
    el.detail.hidden = !entry;
    if (!entry) return;
    $("d-method").textContent = entry.method;
    $("d-path").textContent = entry.path + (entry.query ? "?" + entry.query : "");
    $("d-status").textContent = String(entry.status);
    $("d-error").textContent = entry.known_error || "";
    $("d-meta").textContent = [entry.time, `${entry.duration_ms} ms`, entry.project_id && `project ${entry.project_id}`,
                               entry.access_type && `${entry.access_type} access`].filter(Boolean).join(" · ");
    $("d-req-headers").textContent = headerText(entry.request.headers);
    $("d-req-body").textContent = pretty(entry.request.body);
    $("d-res-headers").textContent = headerText(entry.response.headers);
    $("d-res-body").textContent = pretty(entry.response.body);
  }

  async function refresh() {
    const query = new URLSearchParams({ limit: "200" });
    if (el.path.value.trim()) query.set("path", el.path.value.trim());
    if (el.status.value) query.set("status", el.status.value);
    if (el.project.value) query.set("project_id", el.project.value);
    try {
      const response = await fetch(`${config.api}/requests?${query}`);
      if (!response.ok) throw new Error(`the emulator answered ${response.status}`);
      state.items = (await response.json()).items;
      el.error.hidden = true;
      render();
    } catch (error) {
      el.error.textContent = `Cannot load the requests: ${error.message}`;
      el.error.hidden = false;
    }
  }

  for (const input of [el.path, el.status, el.project]) input.addEventListener("input", refresh);
  el.clear.addEventListener("click", async () => {
    await fetch(`${config.api}/requests`, { method: "DELETE" });
    state.selected = null;
    refresh();
  });
  refresh();
  setInterval(refresh, 1000);
})();
