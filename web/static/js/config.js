// The settings page (/config): the cap and billing-period settings
// (GET/PUT /api/settings), the manual offset (POST /adjust) and its audit
// trail (GET /api/audit).
//
// Values are checked here first, by the rules the server sends with the page
// (its settings table: no rule is copied here), so most mistakes are caught
// before a request, and the server checks them again: its refusal ({"error": "field: message",
// "field": "field"}) is shown beside the field it names. Requests are
// same-origin fetches with a JSON body, which the server's CSRF rule accepts
// and a cross-site page cannot send with the user's credentials.
//
// The adjust form also works without JavaScript (method="post" action="/adjust":
// the server redirects back here and renders the result); this script takes
// over its submit, so with JavaScript the page never reloads.
"use strict";

(function () {
  const TM = window.TM;
  const NOTE_CHARS = TM.settings.note_chars; // the server's bound on an adjustment's note
  // The server names the amount by its unit; the form has one field for both.
  const SERVER_FIELDS = { bytes: "amount", gb: "amount" };

  // ---- checks: value strings from the form in, {field: message} out ----

  function number(raw) {
    return raw.trim() === "" ? NaN : Number(raw);
  }

  function validTimeZone(name) {
    try {
      new Intl.DateTimeFormat("en", { timeZone: name });
      return true;
    } catch (err) {
      return false;
    }
  }

  // The server's rule for each setting this form changes, from its settings table
  // (trafficmon.settings.client_rules): kind, bounds, choices and the setting it must be above.
  const RULES = Object.fromEntries(TM.settings.rules.map((rule) => [rule.name, rule]));

  function range(rule) {
    if (rule.low !== null && rule.high !== null) return " from " + rule.low + " to " + rule.high;
    if (rule.low !== null) return rule.low_open ? " above " + rule.low : " of at least " + rule.low;
    if (rule.high !== null) return " of at most " + rule.high;
    return "";
  }

  // What is wrong with one setting's value in the form, or null.
  function checkSetting(rule, values) {
    const raw = values[rule.name].trim();
    if (rule.choices.length) return rule.choices.includes(raw) ? null : "Choose one of " + rule.choices.join(", ") + ".";
    if (rule.kind === "zone") {
      if (!raw) return "Enter a time zone, such as UTC or Europe/Berlin.";
      return validTimeZone(raw) ? null : "Not a time zone this browser knows: use an IANA name such as Europe/Berlin.";
    }
    const value = number(raw);
    const what = (rule.kind === "int" ? "A whole number" : "A number") + range(rule) + ".";
    if (!Number.isFinite(value) || (rule.kind === "int" && !Number.isInteger(value))) return what;
    if (rule.low !== null && (rule.low_open ? value <= rule.low : value < rule.low)) return what;
    if (rule.high !== null && value > rule.high) return what;
    const other = rule.above === null ? NaN : number(values[rule.above]);
    if (Number.isFinite(other) && value <= other) {
      const noun = settingsForm.querySelector('[data-field-name="' + rule.above + '"]').dataset.noun;
      return "Must be above " + noun + " (" + other + " " + RULES[rule.above].unit + ").";
    }
    return null;
  }

  function validateSettings(values) {
    const errors = {};
    for (const rule of Object.values(RULES)) {
      if (values[rule.name] === undefined) continue; // a live setting this form does not show
      const problem = checkSetting(rule, values);
      if (problem) errors[rule.name] = problem;
    }
    return errors;
  }

  // Returns [errors, body]: the body is what POST /adjust takes ({mode, gb or bytes, note}).
  function validateAdjust(values) {
    const errors = {};
    const amount = number(values.amount);
    if (!Number.isFinite(amount)) errors.amount = "Enter an amount.";
    else if (values.unit === "bytes" && !Number.isSafeInteger(amount)) errors.amount = "Bytes are a whole number.";
    else if (values.mode === "set" && amount < 0) errors.amount = "The counted total cannot be set below zero.";
    else if (values.mode === "add" && amount === 0) errors.amount = "Adding zero changes nothing.";
    const note = values.note.trim();
    if (note.length > NOTE_CHARS) errors.note = "At most " + NOTE_CHARS + " characters.";
    return [errors, { mode: values.mode, [values.unit]: amount, note }];
  }

  // ---- showing errors beside their fields ----

  function formValues(form) {
    return Object.fromEntries(new FormData(form).entries());
  }

  function showErrors(form, errors) {
    for (const box of form.querySelectorAll(".field[data-field-name]")) {
      const message = errors[box.dataset.fieldName];
      const slot = box.querySelector(".field-error");
      if (slot) {
        slot.textContent = message || "";
        slot.hidden = !message;
      }
      for (const control of box.querySelectorAll("input, select, textarea")) {
        if (message) control.setAttribute("aria-invalid", "true");
        else control.removeAttribute("aria-invalid");
      }
    }
    const first = Object.keys(errors).find((name) => form.querySelector('[name="' + name + '"]'));
    if (first) form.querySelector('[name="' + first + '"]').focus();
  }

  // The server names the refused field in `field` and starts its message with it.
  function showRefusal(form, result, verb) {
    const named = (result.data || {}).field;
    const field = SERVER_FIELDS[named] || named;
    let message = result.error;
    if (named && message.startsWith(named + ": ")) message = message.slice(named.length + 2);
    if (field && form.querySelector('[name="' + field + '"]')) {
      showErrors(form, { [field]: message });
      status(form, "Not " + verb + ": the server refused the highlighted field.", "error");
    } else {
      status(form, "Not " + verb + ": " + message, "error");
    }
  }

  function status(form, text, kind) {
    const el = form.querySelector(".form-status");
    el.textContent = text;
    el.dataset.kind = kind;
  }

  // ---- settings ----

  const settingsForm = document.getElementById("settings-form");
  let loaded = null;

  function fillSettings(view) {
    loaded = view.settings;
    for (const [name, value] of Object.entries(view.settings)) {
      const control = settingsForm.elements.namedItem(name);
      if (!control) continue;
      control.value = String(value);
      control.disabled = !view.live.includes(name);
    }
  }

  async function loadSettings() {
    const result = await TM.api("GET", "/api/settings");
    if (result.ok) fillSettings(result.data);
    else status(settingsForm, "Could not load the settings: " + result.error, "error");
  }

  settingsForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const values = formValues(settingsForm);
    const errors = validateSettings(values);
    showErrors(settingsForm, errors);
    if (Object.keys(errors).length) {
      status(settingsForm, "Not saved: correct the highlighted fields.", "error");
      return;
    }
    const changes = {};
    for (const [name, raw] of Object.entries(values)) {
      const value = RULES[name].kind === "int" || RULES[name].kind === "float" ? Number(raw) : raw.trim();
      if (value !== loaded[name]) changes[name] = value;
    }
    if (!Object.keys(changes).length) {
      status(settingsForm, "Nothing changed.", "info");
      return;
    }
    status(settingsForm, "Saving…", "info");
    const result = await TM.api("PUT", "/api/settings", changes);
    if (!result.ok) {
      showRefusal(settingsForm, result, "saved");
      return;
    }
    fillSettings(result.data);
    status(settingsForm, "Saved: " + Object.keys(changes).join(", ") + ". The new settings apply now.", "ok");
  });

  // ---- manual offset and its audit trail ----

  const adjustForm = document.getElementById("adjust-form");
  const adjustSection = document.getElementById("adjust");

  function showPeriod(period) {
    TM.fill(adjustSection, { counted: TM.fmt.bytes(period.counted), offset: TM.fmt.bytes(period.offset) });
  }

  adjustForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const [errors, body] = validateAdjust(formValues(adjustForm));
    showErrors(adjustForm, errors);
    if (Object.keys(errors).length) {
      status(adjustForm, "Not applied: correct the highlighted fields.", "error");
      return;
    }
    status(adjustForm, "Applying…", "info");
    const result = await TM.api("POST", "/adjust", body);
    if (!result.ok) {
      showRefusal(adjustForm, result, "applied");
      return;
    }
    const { adjustment, period } = result.data;
    status(
      adjustForm,
      "Applied: counted total " + TM.fmt.bytes(adjustment.old_counted) + " → " + TM.fmt.bytes(adjustment.new_counted) + ".",
      "ok"
    );
    adjustForm.reset();
    showPeriod(period);
    loadAudit();
  });

  async function loadPeriod() {
    const result = await TM.api("GET", "/data");
    if (result.ok) showPeriod(result.data);
  }

  async function loadAudit() {
    const section = document.getElementById("audit");
    const result = await TM.api("GET", "/api/audit");
    const error = section.querySelector("[data-role=error]");
    error.hidden = result.ok;
    if (!result.ok) {
      error.textContent = "Could not load the audit trail: " + result.error;
      return;
    }
    const entries = result.data.audit.slice().reverse();
    section.querySelector("[data-role=empty]").hidden = entries.length > 0;
    section.querySelector("tbody").replaceChildren(
      ...entries.map((e) =>
        TM.el(
          "tr",
          {},
          TM.el("td", {}, TM.time.element(e.time)),
          TM.el("td", { text: (e.mode === "set" ? "set to " : "add ") + TM.fmt.bytes(e.bytes) }),
          TM.el("td", { class: "num", text: TM.fmt.bytes(e.old_counted) }),
          TM.el("td", { class: "num", text: TM.fmt.bytes(e.new_counted) }),
          TM.el("td", { text: e.note || "—" })
        )
      )
    );
  }

  // ---- start ----

  const zones = document.getElementById("zones");
  zones.replaceChildren(...Intl.supportedValuesOf("timeZone").map((z) => TM.el("option", { value: z })));
  loadSettings();
  loadPeriod();
  loadAudit();
})();
