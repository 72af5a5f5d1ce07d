// The dashboard's small behaviours; every page works without them (forms post and reload).
"use strict";

// The project switcher changes page as soon as a project is picked with the mouse. From the keyboard, arrow keys
// change the value while looking through the list, so there the Switch button (or Enter) confirms the choice.
for (const select of document.querySelectorAll("select[data-autosubmit]")) {
  let fromKeyboard = false;
  select.addEventListener("keydown", (event) => {
    fromKeyboard = true;
    if (event.key === "Enter") select.form.requestSubmit();
  });
  select.addEventListener("pointerdown", () => { fromKeyboard = false; });
  select.addEventListener("change", () => { if (!fromKeyboard) select.form.requestSubmit(); });
}

// JSON fields: say what is wrong while typing, and keep the form from posting invalid JSON.
for (const field of document.querySelectorAll("textarea[data-json]")) {
  const out = document.getElementById(field.getAttribute("aria-describedby"));
  const check = () => {
    let problem = "";
    if (field.value.trim()) {
      try { JSON.parse(field.value); } catch (error) { problem = "Not valid JSON: " + error.message; }
    }
    field.setCustomValidity(problem);
    if (out) out.textContent = problem;
  };
  field.addEventListener("input", check);
  check();
}

// Destructive actions ask first.
for (const form of document.querySelectorAll("form[data-confirm]")) {
  form.addEventListener("submit", (event) => {
    if (!window.confirm(form.dataset.confirm)) event.preventDefault();
  });
}

// Copy buttons: data-copy names the element whose text is copied.
for (const button of document.querySelectorAll("[data-copy]")) {
  button.addEventListener("click", async () => {
    const source = document.querySelector(button.dataset.copy);
    try {
      await navigator.clipboard.writeText(source.textContent.trim());
      button.textContent = "Copied";
    } catch {
      getSelection().selectAllChildren(source);  // no clipboard access (plain http): select it for Ctrl+C
      button.textContent = "Press Ctrl+C";
    }
  });
}

// Client-side filter of a long table (the config keys).
for (const input of document.querySelectorAll("input[data-filter-table]")) {
  const rows = [...document.querySelectorAll(input.dataset.filterTable + " tbody tr")];
  input.addEventListener("input", () => {
    const needle = input.value.trim().toLowerCase();
    for (const row of rows) row.hidden = needle !== "" && !row.textContent.toLowerCase().includes(needle);
  });
}

// After an action, the notice gets focus so keyboard and screen-reader users hear the result.
document.getElementById("notice")?.setAttribute("tabindex", "-1");
document.getElementById("notice")?.focus();
