// The console token stays in this tab's sessionStorage: it is sent only as a header on
// changes (never in a page, a cookie or a URL), and forgotten when the tab closes.
"use strict";

const TOKEN = "channelsync-console-token";
const OPERATOR = "channelsync-console-operator";

function flash(text, bad) {
  const box = document.getElementById("flash");
  box.textContent = text;
  box.className = bad ? "flash bad" : "flash";
  box.hidden = false;
}

function showTokenState() {
  const state = document.getElementById("token-state");
  if (!state) return;
  const who = sessionStorage.getItem(OPERATOR);
  state.textContent = sessionStorage.getItem(TOKEN)
    ? "changes allowed" + (who ? " as " + who : "")
    : "read-only";
}

document.addEventListener("htmx:configRequest", (event) => {
  const headers = event.detail.headers;
  if (event.detail.verb !== "get") {
    const token = sessionStorage.getItem(TOKEN);
    if (token) headers["Authorization"] = "Bearer " + token;
    const who = sessionStorage.getItem(OPERATOR);
    if (who) headers["X-Channelsync-Operator"] = who;
  }
  // Headers carry Latin-1 only: the reason typed at a prompt goes percent-encoded.
  if (headers["HX-Prompt"]) headers["HX-Prompt"] = encodeURIComponent(headers["HX-Prompt"]);
});

document.addEventListener("console-flash", (event) => flash(event.detail.value, false));

document.addEventListener("htmx:responseError", (event) => {
  const xhr = event.detail.xhr;
  let text = xhr.responseText;
  try {
    text = JSON.parse(text).error;
  } catch (_) {
    // not JSON: show the text as it came
  }
  flash(xhr.status + ": " + text, true);
});

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("token-form");
  if (!form) return;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const token = form.elements.token.value.trim();
    const who = form.elements.operator.value.trim();
    if (token) sessionStorage.setItem(TOKEN, token);
    if (who) sessionStorage.setItem(OPERATOR, who);
    form.reset();
    showTokenState();
  });
  document.getElementById("token-forget").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN);
    sessionStorage.removeItem(OPERATOR);
    showTokenState();
  });
  showTokenState();
});
