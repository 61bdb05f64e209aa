/* Sign in, sign out, and entering the portal once the session is known. */
import { api, $, banner, clearFormError, localError, message, onSubmit } from "./api.js";
import { startLive, stopLive } from "./live.js";
import { route, leaveView } from "./router.js";
import { loadGlobalTracking, loadProducts } from "./store.js";
import { openProduct } from "./product-dialog.js";
import { AUTH_LOST, closeAllDialogs } from "./ui.js";

export const session = { me: null };

function showLogin(note) {
  stopLive();
  leaveView();
  closeAllDialogs();
  banner(""); // "connection lost" was about the live stream, which stops here
  $("#app").hidden = true;
  $("#login-view").hidden = false;
  const form = $("#login-form");
  clearFormError(form);
  if (note) form.querySelector("[data-form-error]").textContent = note;
  $("#login-email").focus();
}

document.addEventListener(AUTH_LOST, () => showLogin("Your session has ended. Please sign in again."));

onSubmit($("#login-form"), async (form) => {
  const email = form.elements.email.value.trim();
  const password = form.elements.password.value;
  if (!email || !password) throw localError("Enter your email and password.", email ? "password" : "email");
  await api("POST", "/api/auth/login", { email, password });
  form.elements.password.value = "";
  await enterApp();
});

$("#logout").addEventListener("click", async () => {
  try { await api("POST", "/api/auth/logout"); } catch (err) { /* signed out anyway */ }
  session.me = null;
  showLogin("");
});

async function enterApp() {
  const me = await api("GET", "/api/auth/me");
  if (me.kind !== "admin") {
    showLogin("This browser is paired as a kiosk. Sign in with an admin account.");
    return;
  }
  session.me = me;
  $("#whoami").textContent = me.name || "";
  banner("");
  $("#whoami").title = me.name || ""; // the email may be cut short on narrow screens
  $("#login-view").hidden = true;
  $("#app").hidden = false;
  const [config] = await Promise.all([api("GET", "/api/admin/config"), loadProducts(), loadGlobalTracking()]);
  // with a mail server, nothing is captured: no tab for it
  $('[data-nav="mail"]').hidden = config.smtp.configured;
  startLive();
  route();
  openLinkedProduct();
}

/** Alert mails link to /admin#product-<id>: open that product's dialog. */
function openLinkedProduct() {
  const m = /^#product-(\d+)$/.exec(location.hash);
  if (m) openProduct(Number(m[1]));
}

/** Enter the portal with the session cookie, or show the login. */
export async function boot() {
  try {
    await enterApp();
  } catch (err) {
    if (err.status === 401 || err.status === 403) showLogin("");
    else { showLogin(""); banner(message(err), "error"); }
  }
}
