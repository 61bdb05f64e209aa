/* stockline admin portal: the entry module (admin.html loads it with type="module").
 *
 * Layout (one module per view, plus shared parts):
 *   api.js      helpers of ../common.js (api, el, $, money, …) as imports
 *   ui.js       toasts, dialogs, background errors
 *   store.js    the catalogue (products with live stock, shop-wide tracking) + on(...)
 *   live.js     the event stream; onLive(type, fn) for views that react to events
 *   router.js   #hash routing between the views below
 *   session.js  login / logout / boot
 *   sort.js     natural sort and sortable table heads
 *   products.js, product-dialog.js, reorder.js, stocktake.js, notifications.js, mail.js,
 *   refused.js, people.js,
 *   settings.js: the views
 *   qr.js       QR codes as inline SVG (kiosk pairing links)
 *   chart.js, insight.js  the stock-over-time chart and a product's insight (in its dialog)
 *   bulk.js     bulk actions on the products selected in the table
 *   catalogue.js  CSV export link and import (preview, then apply)
 *
 * How to add a view "foo":
 *   1. admin.html: a nav link <a href="#foo" data-nav="foo">Foo</a> and a
 *      <section class="view" data-view="foo" hidden>…</section> inside <main>.
 *   2. admin/foo.js: wire its DOM at top level and
 *      `export const view = { name: "foo", title: "foo", enter() {…}, leave() {…} };`
 *      (enter runs each time it is shown, leave when another view is, e.g. to stop timers).
 *   3. Import it below and add it to VIEWS (the first view is the default).
 */
import { setViews } from "./router.js";
import { boot } from "./session.js";
import { wireDialogs } from "./ui.js";
import * as products from "./products.js";
import * as reorder from "./reorder.js";
import * as stocktake from "./stocktake.js";
import * as notifications from "./notifications.js";
import * as mail from "./mail.js";
import * as refused from "./refused.js";
import * as people from "./people.js";
import * as settings from "./settings.js";
import "./bulk.js";
import "./catalogue.js";

const VIEWS = [
  products.view, reorder.view, stocktake.view, notifications.view, mail.view, refused.view,
  people.view, settings.view,
];

setViews(VIEWS);
wireDialogs();
boot();
