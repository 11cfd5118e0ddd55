// The settings page (/config): the cap and billing-period settings
// (GET/PUT /api/settings), the manual offset (POST /adjust) and its audit
// trail (GET /api/audit).
//
// Values are checked here first so most mistakes are caught before a request,
// and the server checks them again: its refusal ({"error": "field: message",
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
  const CAP_COUNTS = ["outbound", "both", "max"];
  const NOTE_CHARS = 500;
  const TEXT_SETTINGS = ["cap_counts", "timezone"];
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

  function validateSettings(values) {
    const errors = {};
    const cap = number(values.cap_gb);
    if (!Number.isFinite(cap) || cap <= 0) errors.cap_gb = "Enter the cap in GB, a number above 0.";
    if (!CAP_COUNTS.includes(values.cap_counts)) errors.cap_counts = "Choose what counts toward the cap.";
    const levels = [
      ["warning_percent", "the warning level"],
      ["critical_percent", "the critical level"],
      ["exceeded_percent", "the exceeded level"],
    ];
    let previous = null;
    for (const [name, what] of levels) {
      const value = number(values[name]);
      if (!Number.isFinite(value) || value <= 0) errors[name] = "Enter " + what + " as a percentage above 0.";
      else if (previous !== null && Number.isFinite(previous[1]) && value <= previous[1]) {
        errors[name] = "Must be above " + previous[0] + " (" + previous[1] + " %).";
      }
      previous = [what, value];
    }
    const day = number(values.reset_day);
    if (!Number.isInteger(day) || day < 1 || day > 31) errors.reset_day = "A whole number from 1 to 31.";
    const hour = number(values.reset_hour);
    if (!Number.isInteger(hour) || hour < 0 || hour > 23) errors.reset_hour = "A whole number from 0 to 23.";
    const zone = values.timezone.trim();
    if (!zone) errors.timezone = "Enter a time zone, such as UTC or Europe/Berlin.";
    else if (!validTimeZone(zone)) errors.timezone = "Not a time zone this browser knows: use an IANA name such as Europe/Berlin.";
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
      const value = TEXT_SETTINGS.includes(name) ? raw.trim() : Number(raw);
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
