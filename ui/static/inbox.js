// The emulator's inbox page: message list, live updates over Server-Sent Events, message view.
// Everything taken from a message is put into the page with textContent / attributes, never as markup;
// the one exception is the HTML body, which only ever goes into the sandboxed iframe's srcdoc.
(() => {
  "use strict";

  const config = JSON.parse(document.getElementById("inbox-config").textContent);
  const API = config.api;
  const LIST_LIMIT = 200;
  const FRESH_MS = 4000;
  const SEEN_KEY = "hexclave-emulator.inbox.seen";
  const TAB_KEY = "hexclave-emulator.inbox.tab";
  const SIZE_KEY = "hexclave-emulator.inbox.frame";
  const TABS = ["html", "text", "headers", "raw"];

  const $ = (id) => document.getElementById(id);
  const el = {
    app: $("app"), list: $("list"), count: $("count"), search: $("search"), project: $("project"),
    projectWrap: $("project-wrap"), live: $("live"), deleteAll: $("delete-all"), error: $("error"),
    listNone: $("list-none"), listNoneDetail: $("list-none-detail"), clearFilters: $("clear-filters"),
    empty: $("empty"), panes: $("panes"), placeholder: $("placeholder"), message: $("message"),
    subject: $("m-subject"), from: $("m-from"), to: $("m-to"), date: $("m-date"), source: $("m-source"),
    projectLabel: $("m-project"), relay: $("m-relay"), template: $("m-template"), theme: $("m-theme"), download: $("m-download"), del: $("m-delete"), back: $("back"),
    extract: $("m-extract"), codeCard: $("m-code-card"), code: $("m-code"), codeCopy: $("m-code-copy"),
    linkCode: $("m-link-code"), linkCodeValue: $("m-link-code-value"), cc: $("m-cc"), ccLabel: $("m-cc-label"),
    linksCard: $("m-links-card"), links: $("m-links"), linksCount: $("m-links-count"),
    attachments: $("m-attachments"), frame: $("m-html"), frameWrap: $("frame-wrap"),
    frameSizes: $("frame-sizes"), text: $("m-text"), headers: $("m-headers"), raw: $("m-raw"),
    rawDownload: $("m-raw-download"), rawOpen: $("m-raw-open"), rawSize: $("m-raw-size"),
    confirm: $("confirm"), confirmText: $("confirm-text"), help: $("help"), helpOpen: $("help-open"),
    toast: $("toast"),
  };

  const state = {
    items: [],            // summaries currently listed (already filtered by the server), newest first
    loaded: false,
    selectedId: null,
    detail: null,         // the selected message's full record
    details: new Map(),   // id -> full record
    q: "",
    project: "",
    projects: new Set(),
    fresh: new Map(),     // id -> arrival time, for the highlight
    seen: loadSeen(),
    tab: localStorage.getItem(TAB_KEY) || "html",
    everHadMail: false,
  };

  // ---------------------------------------------------------------- small helpers

  /** Builds an element. Strings become text nodes: nothing passed here is ever parsed as HTML. */
  function h(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value == null || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child == null || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function icon(name) {
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("class", "i");
    svg.setAttribute("aria-hidden", "true");
    const use = document.createElementNS("http://www.w3.org/2000/svg", "use");
    use.setAttribute("href", "#i-" + name);
    svg.append(use);
    return svg;
  }

  function loadSeen() {
    try { return new Set(JSON.parse(localStorage.getItem(SEEN_KEY) || "[]")); } catch { return new Set(); }
  }

  function markSeen(id) {
    if (state.seen.has(id)) return;
    state.seen.add(id);
    const ids = [...state.seen].slice(-3000);
    try { localStorage.setItem(SEEN_KEY, JSON.stringify(ids)); } catch { /* storage full or disabled */ }
  }

  /** "Ada Lovelace <ada@example.com>" -> {name, address}. */
  function parseAddress(value) {
    const text = String(value || "").trim().replace(/\s*;$/, "");
    const m = /^(.*?)\s*<([^<>]*)>$/.exec(text);
    if (!m) return { name: "", address: text };
    let name = m[1].trim();
    if (name.length > 1 && name.startsWith('"') && name.endsWith('"')) name = name.slice(1, -1).replace(/\\(.)/g, "$1");
    return { name: name.trim(), address: m[2].trim() };
  }

  function displayAddress(value) {
    const { name, address } = parseAddress(value);
    return name || address || "(no sender)";
  }

  const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
  const dayFormat = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });
  const yearFormat = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "short", day: "numeric" });
  const weekdayFormat = new Intl.DateTimeFormat(undefined, { weekday: "short" });
  const fullFormat = new Intl.DateTimeFormat(undefined, {
    weekday: "short", year: "numeric", month: "short", day: "numeric",
    hour: "2-digit", minute: "2-digit", second: "2-digit",
  });

  // Mail is dated on the emulator's clock (which `clock advance` moves forward): "now" here is that clock too.
  let clockOffsetMs = Number(config.clockOffsetMillis) || 0;
  const emulatorNow = () => Date.now() + clockOffsetMs;
  async function syncClock() {
    try {
      const response = await fetch(config.clockApi, { headers: { accept: "application/json" } });
      if (response.ok) clockOffsetMs = (await response.json()).offset_millis;
    } catch { /* the list request reports an unreachable emulator */ }
  }

  function relativeTime(ms) {
    const seconds = (emulatorNow() - ms) / 1000;
    if (seconds < 45) return "now";
    if (seconds < 3600) return Math.max(1, Math.round(seconds / 60)) + "m";
    if (seconds < 86400) return Math.round(seconds / 3600) + "h";
    const date = new Date(ms);
    if (seconds < 6 * 86400) return weekdayFormat.format(date);
    return date.getFullYear() === new Date(emulatorNow()).getFullYear() ? dayFormat.format(date) : yearFormat.format(date);
  }

  function longTime(ms) {
    const seconds = Math.round((emulatorNow() - ms) / 1000);
    let ago;
    if (seconds < 45) ago = "just now";
    else if (seconds < 3600) ago = Math.round(seconds / 60) + " min ago";
    else if (seconds < 86400) ago = Math.round(seconds / 3600) + " h ago";
    else ago = Math.round(seconds / 86400) + " d ago";
    return fullFormat.format(new Date(ms)) + "  ·  " + ago;
  }

  function formatSize(bytes) {
    if (bytes == null) return "";
    if (bytes < 1024) return bytes + " B";
    if (bytes < 1024 * 1024) return (bytes / 1024).toFixed(bytes < 10240 ? 1 : 0) + " KB";
    return (bytes / 1024 / 1024).toFixed(1) + " MB";
  }

  /** Only http(s) and mailto links from a message become clickable. */
  function safeHref(url) {
    try {
      const parsed = new URL(url);
      return ["http:", "https:", "mailto:"].includes(parsed.protocol) ? parsed.href : null;
    } catch { return null; }
  }

  function shortUrl(url) {
    try {
      const u = new URL(url);
      const path = (u.pathname === "/" ? "" : u.pathname) + u.search;
      return u.host + path;
    } catch { return url; }
  }

  let toastTimer = 0;
  function toast(message, kind = "") {
    el.toast.textContent = message;
    el.toast.className = "toast show " + kind;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { el.toast.className = "toast " + kind; }, 1800);
  }

  async function copyText(text, what = "Copied") {
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      const area = h("textarea", { style: "position:fixed;opacity:0;top:0;left:0", readonly: true });
      area.value = text;
      document.body.append(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
    toast(what);
  }

  function flashCopied(button) {
    button.classList.add("copied");
    const use = button.querySelector("use");
    if (use) use.setAttribute("href", "#i-check");
    setTimeout(() => {
      button.classList.remove("copied");
      if (use) use.setAttribute("href", "#i-copy");
    }, 1200);
  }

  async function api(path, options = {}) {
    const response = await fetch(API + path, { headers: { accept: "application/json" }, ...options });
    if (!response.ok) {
      const error = new Error(`HTTP ${response.status}`);
      error.status = response.status;
      throw error;
    }
    return response;
  }

  function showError(message) {
    el.error.hidden = !message;
    el.error.textContent = message || "";
  }

  // ---------------------------------------------------------------- list

  let listSeq = 0;
  async function loadList() {
    const seq = ++listSeq;
    const params = new URLSearchParams({ limit: String(LIST_LIMIT) });
    if (state.q) params.set("q", state.q);
    if (state.project) params.set("project_id", state.project);
    let data;
    try {
      data = await (await api("/messages?" + params)).json();
    } catch (error) {
      if (seq === listSeq) showError(`Could not load the inbox (${error.message}). Is the emulator running?`);
      return;
    }
    if (seq !== listSeq) return;
    showError("");
    state.items = Array.isArray(data.items) ? data.items : [];
    state.loaded = true;
    for (const item of state.items) noteProject(item.project_id);
    if (!state.q && !state.project) state.everHadMail = state.items.length > 0;
    renderProjects();
    renderList();
    if (state.selectedId && !state.items.some((m) => m.id === state.selectedId)) {
      if (!state.q && !state.project) clearSelection();
    } else if (!state.selectedId) {
      const fromHash = decodeURIComponent(location.hash.slice(1));
      if (fromHash && state.items.some((m) => m.id === fromHash)) select(fromHash, { scroll: true });
    }
  }

  function noteProject(id) {
    if (id && !state.projects.has(id)) {
      state.projects.add(id);
      return true;
    }
    return false;
  }

  function renderProjects() {
    const ids = [...state.projects].sort();
    el.projectWrap.hidden = ids.length === 0 && !state.project;
    const current = state.project;
    el.project.replaceChildren(h("option", { value: "" }, "All projects"),
      ...ids.map((id) => h("option", { value: id }, id)));
    el.project.value = current;
  }

  function renderItem(m) {
    const unread = !state.seen.has(m.id);
    const arrived = state.fresh.get(m.id);
    const fresh = arrived && Date.now() - arrived < FRESH_MS;
    const to = (m.to || []).map(displayAddress).join(", ");
    const li = h("li", {
      class: "item" + (unread ? " unread" : "") + (fresh ? " fresh" : "") + (m.id === state.selectedId ? " selected" : ""),
      role: "option", "aria-selected": m.id === state.selectedId ? "true" : "false",
      "data-id": m.id, id: "item-" + m.id,
    },
      h("div", { class: "item-top" },
        h("span", { class: "item-from", title: m.from || "" }, displayAddress(m.from)),
        m.attachment_count ? h("span", { class: "item-att", title: `${m.attachment_count} attachment(s)` },
          icon("clip"), String(m.attachment_count)) : null,
        h("span", { class: "pill src-" + (m.source === "platform" ? "platform" : "smtp") }, m.source || "smtp"),
        h("time", { class: "item-time", "data-ms": m.created_at_millis, title: fullFormat.format(new Date(m.created_at_millis)) },
          relativeTime(m.created_at_millis)),
      ),
      h("div", { class: "item-mid" },
        h("span", { class: "item-subject" }, m.subject || "(no subject)"),
        m.otp || m.code ? h("span", { class: "code-badge", title: "One-time code" }, m.otp || m.code) : null,
      ),
      h("div", { class: "item-bottom" },
        h("span", { class: "item-to", title: (m.to || []).join(", ") }, "to " + (to || "—")),
        m.preview ? h("span", { class: "item-preview" }, m.preview) : null,
      ),
    );
    return li;
  }

  function renderList() {
    const filtered = Boolean(state.q || state.project);
    const showEmpty = state.loaded && state.items.length === 0 && !filtered;
    el.empty.hidden = !showEmpty;
    el.panes.hidden = showEmpty;
    el.list.replaceChildren(...state.items.map(renderItem));
    el.listNone.hidden = !(state.loaded && state.items.length === 0 && filtered);
    el.list.hidden = !el.listNone.hidden;
    if (!el.listNone.hidden) {
      const parts = [];
      if (state.q) parts.push(`matching “${state.q}”`);
      if (state.project) parts.push(`in project ${state.project}`);
      el.listNoneDetail.textContent = "No message " + parts.join(" ") + ".";
    }
    el.deleteAll.disabled = state.items.length === 0 && !state.everHadMail;
    renderCount();
  }

  function renderCount() {
    const n = state.items.length;
    el.count.textContent = state.loaded && n ? String(n >= LIST_LIMIT ? LIST_LIMIT + "+" : n) : "";
    const unread = state.items.filter((m) => !state.seen.has(m.id)).length;
    document.title = (unread ? `(${unread}) ` : "") + "Inbox · hexclave-emulator";
  }

  function refreshTimes() {
    for (const node of el.list.querySelectorAll("time[data-ms]")) {
      node.textContent = relativeTime(Number(node.dataset.ms));
    }
    if (state.detail) el.date.textContent = longTime(state.detail.created_at_millis);
  }

  function matchesFilters(m) {
    if (state.project && m.project_id !== state.project) return false;
    return true;
  }

  function onNewMessage(m) {
    if (!m || !m.id) return;
    if (noteProject(m.project_id)) renderProjects();
    state.everHadMail = true;
    if (state.items.some((x) => x.id === m.id)) return;
    state.fresh.set(m.id, Date.now());
    if (!matchesFilters(m)) return;
    if (state.q) { scheduleReload(); return; }  // the server decides what matches a search
    state.items.unshift(m);
    if (state.items.length > LIST_LIMIT) state.items.pop();
    if (el.empty.hidden && el.list.querySelector(".item:not(.skeleton)")) {
      el.list.prepend(renderItem(m));
      const extra = el.list.children[LIST_LIMIT];
      if (extra) extra.remove();
      el.listNone.hidden = true;
      el.list.hidden = false;
      el.deleteAll.disabled = false;
      renderCount();
    } else {
      renderList();
    }
    if (!state.selectedId && document.activeElement !== el.search) select(m.id, { markRead: false });
  }

  let reloadTimer = 0;
  function scheduleReload(delay = 150) {
    clearTimeout(reloadTimer);
    reloadTimer = setTimeout(loadList, delay);
  }

  // ---------------------------------------------------------------- selection and the message view

  function itemNode(id) { return document.getElementById("item-" + id); }

  function setSelectedClass(id) {
    for (const node of el.list.querySelectorAll(".item.selected")) {
      node.classList.remove("selected");
      node.setAttribute("aria-selected", "false");
    }
    const node = id && itemNode(id);
    if (node) {
      node.classList.add("selected");
      node.setAttribute("aria-selected", "true");
      el.list.setAttribute("aria-activedescendant", node.id);
    }
    return node;
  }

  let detailSeq = 0;
  async function select(id, { scroll = false, markRead = true } = {}) {
    state.selectedId = id;
    const node = setSelectedClass(id);
    if (node && scroll) node.scrollIntoView({ block: "nearest" });
    if (markRead) {
      markSeen(id);
      if (node) node.classList.remove("unread");
      renderCount();
    }
    el.app.dataset.view = "message";
    history.replaceState(null, "", "#" + encodeURIComponent(id));
    const seq = ++detailSeq;
    let detail = state.details.get(id);
    if (!detail) {
      try {
        detail = await (await api("/messages/" + encodeURIComponent(id))).json();
      } catch (error) {
        if (seq === detailSeq) toast(error.status === 404 ? "That message is gone" : "Could not load the message", "bad");
        return;
      }
      state.details.set(id, detail);
    }
    if (seq !== detailSeq || state.selectedId !== id) return;
    renderMessage(detail);
  }

  function clearSelection() {
    state.selectedId = null;
    state.detail = null;
    setSelectedClass(null);
    el.message.hidden = true;
    el.placeholder.hidden = false;
    el.app.dataset.view = "list";
    el.frame.srcdoc = "";
    history.replaceState(null, "", location.pathname + location.search);
  }

  function move(step) {
    if (!state.items.length) return;
    const index = state.items.findIndex((m) => m.id === state.selectedId);
    let next = index < 0 ? (step > 0 ? 0 : state.items.length - 1) : index + step;
    next = Math.max(0, Math.min(state.items.length - 1, next));
    if (state.items[next].id !== state.selectedId) select(state.items[next].id, { scroll: true });
  }

  function renderMessage(m) {
    state.detail = m;
    el.placeholder.hidden = true;
    el.message.hidden = false;

    el.subject.textContent = m.subject || "(no subject)";
    el.from.replaceChildren(addressNode(m.from));
    // Cc apart from To: `to` lists every recipient, the Cc header says which of them were copied.
    const cc = Array.isArray(m.cc) ? m.cc : [];
    const ccSet = new Set(cc.map((a) => a.toLowerCase()));
    const recipients = (m.to || []).filter((r) => !ccSet.has(r.toLowerCase()));
    const addressList = (list) => list.flatMap((r, i) => (i ? [", ", addressNode(r)] : [addressNode(r)]));
    el.to.replaceChildren(...addressList(recipients));
    if (!recipients.length) el.to.textContent = "—";
    el.cc.replaceChildren(...addressList(cc));
    el.cc.hidden = el.ccLabel.hidden = cc.length === 0;
    el.date.textContent = longTime(m.created_at_millis);
    el.date.setAttribute("datetime", new Date(m.created_at_millis).toISOString());
    el.source.textContent = m.source || "smtp";
    el.source.className = "pill src-" + (m.source === "platform" ? "platform" : "smtp");
    el.projectLabel.textContent = m.project_id ? "project " + m.project_id : "";
    // Platform mail also relayed to the project's own SMTP server (emails.server in hexclave.config.py).
    const relay = m.relay;
    el.relay.hidden = !relay;
    el.relay.classList.toggle("failed", Boolean(relay && relay.status === "failed"));
    el.relay.textContent = !relay ? "" : relay.status === "sent" ? "relayed to " + relay.server
      : relay.status === "failed" ? "relay to " + relay.server + " failed: " + relay.error
      : "relaying to " + relay.server + "…";
    // Platform mail: which template and theme rendered it, and how (headers the emulator adds).
    const header = (name) => ((m.headers || []).find(([key]) => key.toLowerCase() === name) || [])[1];
    const template = header("x-hexclave-emulator-template");
    const theme = header("x-hexclave-emulator-theme");
    for (const node of document.querySelectorAll(".m-rendered")) node.hidden = !(template || theme);
    el.template.textContent = template || "—";
    el.theme.textContent = theme || "—";
    const rawUrl = API + "/messages/" + encodeURIComponent(m.id) + "/raw";
    for (const a of [el.download, el.rawDownload]) {
      a.href = rawUrl;
      a.setAttribute("download", m.id + ".eml");
    }
    el.rawOpen.href = rawUrl;

    // One-time code and links.
    // The code the mail shows (the 6-character OTP) first; the code of its link apart.
    const shownCode = m.otp || m.code;
    el.codeCard.hidden = !shownCode;
    el.code.textContent = shownCode || "";
    el.code.classList.toggle("long", Boolean(shownCode && shownCode.length > 10));
    el.linkCode.hidden = !(m.otp && m.code && m.code !== m.otp);
    el.linkCodeValue.textContent = el.linkCode.hidden ? "" : m.code;
    const links = Array.isArray(m.links) ? m.links : [];
    el.linksCard.hidden = links.length === 0;
    el.linksCount.textContent = links.length > 1 ? String(links.length) : "";
    el.links.replaceChildren(...links.map(linkChip));
    el.extract.hidden = !shownCode && links.length === 0;
    el.extract.classList.toggle("stacked", Boolean(shownCode && shownCode.length > 16));

    // Attachments.
    const attachments = Array.isArray(m.attachments) ? m.attachments : [];
    el.attachments.hidden = attachments.length === 0;
    el.attachments.replaceChildren(...attachments.map((a, index) => h("li", null,
      h("a", {
        class: "attachment", download: a.filename || true, title: "Download " + (a.filename || "the attachment"),
        href: API + "/messages/" + encodeURIComponent(m.id) + "/attachments/" + index,
      },
        icon("clip"), h("span", { class: "att-name" }, a.filename || "(unnamed)"),
        h("span", { class: "att-meta" }, [a.content_type, formatSize(a.size)].filter(Boolean).join(" · "))))));

    // Bodies.
    el.frame.srcdoc = m.html ? previewDocument(m.html) : "";
    el.text.replaceChildren(...linkify(m.text || ""));
    if (!m.text) el.text.append(h("span", { class: "muted" }, "This message has no plain-text part."));
    el.headers.replaceChildren(...(m.headers || []).map(([name, value]) =>
      h("tr", null, h("th", { scope: "row" }, name), h("td", null, value))));
    el.raw.textContent = "";
    el.rawSize.textContent = "";
    el.raw.dataset.loaded = "";

    document.getElementById("tab-html").disabled = !m.html;
    document.getElementById("tab-text").disabled = false;
    const preferred = state.tab;
    showTab(preferred === "html" && !m.html ? "text" : preferred, { remember: false });
    el.message.parentElement.scrollTop = 0;
  }

  /** The mail's HTML for the sandboxed iframe; links open nowhere (popups are blocked by the sandbox). */
  function previewDocument(html) {
    const base = '<base target="_blank">';
    const head = /<head(\s[^>]*)?>/i.exec(html);
    if (head) return html.slice(0, head.index + head[0].length) + base + html.slice(head.index + head[0].length);
    const root = /<html(\s[^>]*)?>/i.exec(html);
    if (root) return html.slice(0, root.index + root[0].length) + base + html.slice(root.index + root[0].length);
    const doctype = /^\s*<!doctype[^>]*>/i.exec(html);
    if (doctype) return doctype[0] + base + html.slice(doctype[0].length);
    return base + html;
  }

  function addressNode(value) {
    const { name, address } = parseAddress(value);
    if (!name) return h("span", { class: "addr" }, address || "—");
    return h("span", { class: "addr" }, h("span", { class: "addr-name" }, name), " ",
      h("span", { class: "addr-mail" }, "<" + address + ">"));
  }

  function linkChip(url) {
    const href = safeHref(url);
    const label = shortUrl(url);
    const copy = h("button", { type: "button", class: "chip-copy", title: "Copy link", "aria-label": "Copy link" }, icon("copy"));
    copy.addEventListener("click", () => { copyText(url, "Link copied"); flashCopied(copy); });
    const main = href
      ? h("a", { class: "chip-link", href, target: "_blank", rel: "noopener noreferrer", title: url }, icon("link"), h("span", null, label))
      : h("span", { class: "chip-link", title: url }, icon("link"), h("span", null, label));
    return h("li", { class: "chip" }, main, copy);
  }

  const URL_PATTERN = /\bhttps?:\/\/[^\s<>"'()\[\]]+[^\s<>"'()\[\].,;:!?]/g;
  function linkify(text) {
    const nodes = [];
    let last = 0;
    for (const match of text.matchAll(URL_PATTERN)) {
      if (match.index > last) nodes.push(document.createTextNode(text.slice(last, match.index)));
      const href = safeHref(match[0]);
      nodes.push(href ? h("a", { href, target: "_blank", rel: "noopener noreferrer" }, match[0]) : document.createTextNode(match[0]));
      last = match.index + match[0].length;
    }
    if (last < text.length) nodes.push(document.createTextNode(text.slice(last)));
    return nodes;
  }

  function showTab(name, { remember = true } = {}) {
    if (!TABS.includes(name)) name = "html";
    const button = document.getElementById("tab-" + name);
    if (button.disabled) name = "text";
    for (const tab of TABS) {
      const b = document.getElementById("tab-" + tab);
      b.setAttribute("aria-selected", tab === name ? "true" : "false");
      b.tabIndex = tab === name ? 0 : -1;
      document.querySelector(`[data-panel="${tab}"]`).hidden = tab !== name;
    }
    el.frameSizes.hidden = name !== "html";
    if (remember) {
      state.tab = name;
      try { localStorage.setItem(TAB_KEY, name); } catch { /* ignore */ }
    }
    if (name === "raw") loadRaw();
  }

  async function loadRaw() {
    const m = state.detail;
    if (!m || el.raw.dataset.loaded === m.id) return;
    el.raw.dataset.loaded = m.id;
    el.raw.textContent = "Loading…";
    try {
      const response = await api("/messages/" + encodeURIComponent(m.id) + "/raw", { headers: {} });
      const text = await response.text();
      if (state.detail !== m) return;
      const LIMIT = 400000;
      el.raw.textContent = text.length > LIMIT ? text.slice(0, LIMIT) + "\n\n… (truncated; download the .eml for the rest)" : text;
      el.rawSize.textContent = formatSize(new Blob([text]).size);
    } catch (error) {
      if (state.detail === m) el.raw.textContent = `Could not load the raw message (${error.message}).`;
    }
  }

  // ---------------------------------------------------------------- deleting

  async function deleteSelected() {
    const id = state.selectedId;
    if (!id) return;
    const index = state.items.findIndex((m) => m.id === id);
    try {
      await api("/messages/" + encodeURIComponent(id), { method: "DELETE" });
    } catch (error) {
      if (error.status !== 404) { toast("Could not delete: " + error.message, "bad"); return; }
    }
    state.items = state.items.filter((m) => m.id !== id);
    state.details.delete(id);
    const node = itemNode(id);
    if (node) node.remove();
    const next = state.items[Math.min(index, state.items.length - 1)];
    if (next) select(next.id, { scroll: true });
    else clearSelection();
    if (!state.items.length) {
      if (!state.q && !state.project) state.everHadMail = false;
      renderList();
    }
    renderCount();
    toast("Deleted");
  }

  async function deleteAll() {
    el.confirmText.textContent = state.items.length
      ? `All ${state.items.length >= LIST_LIMIT ? "" : state.items.length + " "}messages will be removed, for every project. This cannot be undone.`
      : "Every message in the inbox will be removed, for every project. This cannot be undone.";
    el.confirm.returnValue = "";
    el.confirm.showModal();
    const answer = await new Promise((resolve) => el.confirm.addEventListener("close", () => resolve(el.confirm.returnValue), { once: true }));
    if (answer !== "ok") return;
    try {
      await api("/messages", { method: "DELETE" });
    } catch (error) {
      toast("Could not delete: " + error.message, "bad");
      return;
    }
    state.details.clear();
    state.everHadMail = false;
    clearSelection();
    await loadList();
    toast("Inbox cleared");
  }

  // ---------------------------------------------------------------- live updates

  let source = null;
  let retryTimer = 0;
  let retryDelay = 1000;
  let hadTrouble = false;

  function setLive(status) {
    el.live.dataset.state = status;
    const labels = { connecting: "Connecting", live: "Live", reconnecting: "Reconnecting", offline: "Offline" };
    el.live.querySelector(".live-label").textContent = labels[status];
    el.live.title = {
      connecting: "Connecting to live updates…",
      live: "Live: new mail appears here as it arrives",
      reconnecting: "Lost the connection to the emulator; reconnecting…",
      offline: "Not connected to the emulator; retrying",
    }[status];
  }

  function connect() {
    clearTimeout(retryTimer);
    if (source) source.close();
    setLive(hadTrouble ? "reconnecting" : "connecting");
    source = new EventSource(API + "/events");
    source.onopen = () => {
      setLive("live");
      retryDelay = 1000;
      if (hadTrouble) {
        hadTrouble = false;
        loadList();  // catch up on anything that arrived while we were away
      }
    };
    source.onmessage = (event) => {
      let message;
      try { message = JSON.parse(event.data); } catch { return; }
      if (Math.abs(message.created_at_millis - emulatorNow()) > 60000) syncClock();  // the clock moved meanwhile
      onNewMessage(message);
    };
    source.onerror = () => {
      hadTrouble = true;
      if (source.readyState === EventSource.CLOSED) {
        setLive("offline");
        retryTimer = setTimeout(connect, retryDelay);
        retryDelay = Math.min(retryDelay * 2, 15000);
      } else {
        setLive("reconnecting");
      }
    };
  }

  // ---------------------------------------------------------------- events

  let searchTimer = 0;
  el.search.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => {
      const q = el.search.value.trim();
      if (q === state.q) return;
      state.q = q;
      loadList();
    }, 220);
  });

  el.project.addEventListener("change", () => {
    state.project = el.project.value;
    loadList();
  });

  el.clearFilters.addEventListener("click", () => {
    el.search.value = "";
    state.q = "";
    state.project = "";
    el.project.value = "";
    loadList();
  });

  el.list.addEventListener("click", (event) => {
    const item = event.target.closest(".item[data-id]");
    if (item) select(item.dataset.id);
  });

  el.codeCopy.addEventListener("click", () => {
    if (!state.detail || !(state.detail.otp || state.detail.code)) return;
    copyText(state.detail.otp || state.detail.code, "Code copied");
    flashCopied(el.codeCopy);
  });

  for (const button of document.querySelectorAll(".snippet-copy")) {
    button.addEventListener("click", () => { copyText(button.dataset.copy, "Snippet copied"); flashCopied(button); });
  }

  for (const tab of TABS) document.getElementById("tab-" + tab).addEventListener("click", () => showTab(tab));

  function setFrameSize(size) {
    el.frameWrap.dataset.size = size;
    for (const b of el.frameSizes.querySelectorAll("button")) b.setAttribute("aria-pressed", String(b.dataset.size === size));
    try { localStorage.setItem(SIZE_KEY, size); } catch { /* ignore */ }
  }
  el.frameSizes.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-size]");
    if (button) setFrameSize(button.dataset.size);
  });
  setFrameSize(localStorage.getItem(SIZE_KEY) === "mobile" ? "mobile" : "desktop");

  el.del.addEventListener("click", deleteSelected);
  el.deleteAll.addEventListener("click", deleteAll);
  el.back.addEventListener("click", () => { el.app.dataset.view = "list"; el.list.focus(); });
  el.helpOpen.addEventListener("click", () => el.help.showModal());

  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.metaKey || event.ctrlKey || event.altKey) return;
    if (el.confirm.open || el.help.open) return;
    const target = event.target;
    if (target === el.search) {
      if (event.key === "Escape") {
        event.preventDefault();
        if (el.search.value) { el.search.value = ""; el.search.dispatchEvent(new Event("input")); }
        else el.search.blur();
      } else if (event.key === "Enter" || event.key === "ArrowDown") {
        event.preventDefault();
        el.search.blur();
        if (!state.selectedId) move(1);
        el.list.focus();
      }
      return;
    }
    if (target.closest && target.closest("input, textarea, select, [contenteditable]")) return;
    switch (event.key) {
      case "j": case "ArrowDown": move(1); break;
      case "k": case "ArrowUp": move(-1); break;
      case "Home": if (state.items.length) select(state.items[0].id, { scroll: true }); break;
      case "End": if (state.items.length) select(state.items[state.items.length - 1].id, { scroll: true }); break;
      case "/": el.search.focus(); el.search.select(); break;
      case "Delete": case "Backspace": deleteSelected(); break;
      case "Escape": if (state.selectedId) clearSelection(); else return; break;
      case "c":
        if (state.detail && (state.detail.otp || state.detail.code)) {
          copyText(state.detail.otp || state.detail.code, "Code copied");
          flashCopied(el.codeCopy);
        }
        else return;
        break;
      case "o": {
        const first = state.detail && (state.detail.links || []).map(safeHref).find(Boolean);
        if (first) window.open(first, "_blank", "noopener,noreferrer"); else return;
        break;
      }
      case "1": case "2": case "3": case "4":
        if (state.detail) showTab(TABS[Number(event.key) - 1]); else return;
        break;
      case "?": el.help.showModal(); break;
      default: return;
    }
    event.preventDefault();
  });

  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && state.loaded) scheduleReload(50);
  });

  setInterval(refreshTimes, 30000);

  // A search in the address (/inbox?q=ada@example.com, as the dashboard links to a user's mail) is the first search.
  const initialSearch = new URLSearchParams(location.search).get("q");
  if (initialSearch) {
    el.search.value = initialSearch;
    state.q = initialSearch.trim();
  }

  // Open the stream first, then load: nothing that arrives in between is missed (duplicates are ignored).
  connect();
  loadList();
})();
