/* Hash routing between the views listed in main.js (#products, #notifications, …). */
import { $, $$ } from "./api.js";

let views = [];
let current = null; // the view object shown now

export function setViews(list) { views = list; }

export function currentView() { return current ? current.name : null; }

/** Leave the shown view (its timers stop), e.g. when the session ends. */
export function leaveView() {
  if (current && current.leave) current.leave();
  current = null;
}

export function route() {
  if ($("#app").hidden) return;
  const wanted = location.hash.replace(/^#/, "");
  const shown = views.filter((v) => { const link = $(`[data-nav="${v.name}"]`); return !link || !link.hidden; });
  const view = shown.find((v) => v.name === wanted) || shown[0];
  leaveView();
  current = view;
  for (const section of $$(".view")) section.hidden = section.dataset.view !== view.name;
  for (const link of $$("[data-nav]")) {
    if (link.dataset.nav === view.name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (view.enter) view.enter();
  document.title = "stockline · " + (view.title || view.name);
}

window.addEventListener("hashchange", () => { route(); const m = $("#main"); if (m) m.focus({ preventScroll: true }); });
