/* The captured-mail view: messages kept instead of sent when no SMTP server is configured. */
import { api, $, el, when } from "./api.js";
import { handleBackgroundError } from "./ui.js";

const state = { before: null };

export const view = { name: "mail", title: "captured mail", enter() { loadMail(true); } };

async function loadMail(reset) {
  if (reset) state.before = null;
  const params = new URLSearchParams({ limit: "20" });
  if (!reset && state.before) params.set("before_id", state.before);
  let page;
  try {
    page = await api("GET", "/api/admin/mail?" + params);
  } catch (err) {
    handleBackgroundError(err, "Mail");
    return;
  }
  const list = $("#mail-list");
  const cards = page.items.map((m, i) => {
    const to = m.recipients.join(", ");
    const d = el("details", { class: "card mail", dataset: { mail: String(m.id) } },
      el("summary", {},
        el("span", { class: "mail-subject", text: m.subject }),
        el("span", { class: "mail-meta", text: "to " + to + " · " + when(m.created_at) })),
      el("dl", { class: "dl dl-grid mail-head" },
        el("dt", { text: "To" }), el("dd", { text: to }),
        el("dt", { text: "Message-ID" }), el("dd", { class: "mono", text: m.message_id }),
        el("dt", { text: "Notification" }), el("dd", { text: m.notification_id ? "#" + m.notification_id : "–" })),
      el("pre", { class: "mail-body", text: m.body_text }));
    if (reset && i === 0) d.open = true;
    return d;
  });
  if (reset) list.replaceChildren(...cards); else list.append(...cards);
  state.before = page.next_before_id;
  $("#mail-more").hidden = !state.before;
  $("#mail-empty").hidden = list.children.length > 0;
}
$("#mail-refresh").addEventListener("click", () => loadMail(true));
$("#mail-more").addEventListener("click", () => loadMail(false));
