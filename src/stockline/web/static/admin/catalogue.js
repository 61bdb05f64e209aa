/* Catalogue in and out: export the products as CSV, import a CSV with a preview first.
 * The preview is the same request with ?dry_run=true, so it shows exactly what applying
 * would do (created / updated / unchanged) or every error by line and field. */
import { api, $, el, message, onSubmit, localError } from "./api.js";
import { loadProducts } from "./store.js";
import { closeDialog, handleBackgroundError, toast } from "./ui.js";

const dialog = $("#import-dialog");
const form = $("#import-form");
const state = { text: null, name: "" }; // the file that was previewed without errors

function countsOf(r) {
  return { created: r.created || 0, updated: r.updated || 0, unchanged: r.unchanged || 0 };
}

function showResult(result, errors, dryRun) {
  const c = countsOf(result || {});
  $("#import-preview").hidden = false;
  $("#import-counts").hidden = errors.length > 0; // with errors nothing would be written
  $("#import-created").textContent = String(c.created);
  $("#import-updated").textContent = String(c.updated);
  $("#import-unchanged").textContent = String(c.unchanged);
  const rows = errors.map((e) => el("tr", {},
    el("td", { class: "num" }, e.line === undefined || e.line === null ? "–" : String(e.line)),
    el("td", { class: "mono" }, e.field || "–"),
    el("td", {}, e.message || e.msg || "")));
  $("#import-errors").replaceChildren(...rows);
  $("#import-errors-wrap").hidden = rows.length === 0;
  const status = $("#import-status");
  if (errors.length) {
    status.textContent = errors.length + " problem" + (errors.length === 1 ? "" : "s") +
      " found: nothing will be written until the file is fixed.";
    status.className = "import-status bad";
  } else {
    status.textContent = dryRun ? "Preview only: nothing written yet. Apply to import." : "Imported.";
    status.className = "import-status good";
  }
}

async function send(text, dryRun) {
  const path = "/api/products/import" + (dryRun ? "?dry_run=true" : "");
  try {
    return { result: await api("POST", path, text, { contentType: "text/csv" }), errors: [] };
  } catch (err) {
    // 422: the file's problems, each with line and field; nothing was written
    if (err.status === 422 && err.errors.length && err.errors[0].line !== undefined) {
      return { result: err.problem, errors: err.errors };
    }
    throw err;
  }
}

async function preview() {
  const file = form.elements.file.files[0];
  state.text = null;
  $("#import-apply").disabled = true;
  if (!file) throw localError("Choose a CSV file first.", "file");
  const text = await file.text();
  const { result, errors } = await send(text, true);
  showResult(result, errors, true);
  if (!errors.length) {
    state.text = text;
    state.name = file.name;
    $("#import-apply").disabled = false;
  }
}

$("#import-open").addEventListener("click", () => {
  form.reset();
  state.text = null;
  form.querySelector("[data-form-error]").textContent = "";
  $("#import-preview").hidden = true;
  $("#import-apply").disabled = true;
  dialog.showModal();
  form.elements.file.focus();
});

onSubmit(form, preview);
// choosing a file previews it at once
form.elements.file.addEventListener("change", () => form.requestSubmit());

$("#import-apply").addEventListener("click", async (ev) => {
  const button = ev.currentTarget;
  if (state.text === null) return;
  button.disabled = true;
  const box = form.querySelector("[data-form-error]");
  box.textContent = "";
  try {
    const { result, errors } = await send(state.text, false);
    showResult(result, errors, false);
    if (errors.length) return; // the catalogue changed since the preview
    const c = countsOf(result);
    toast("Imported " + state.name + ": " + c.created + " created, " + c.updated + " updated, " + c.unchanged + " unchanged");
    closeDialog(dialog);
    await loadProducts();
  } catch (err) {
    box.textContent = message(err);
    if (err.status === 401) handleBackgroundError(err);
  } finally {
    button.disabled = state.text === null;
  }
});
