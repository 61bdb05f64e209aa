/* The shared page helpers of ../common.js as module imports.
 *
 * common.js stays a classic script because the kiosk (kiosk.js, a classic script) uses
 * it too; admin.html loads it before main.js, so window.SL is there when this runs. */
const SL = window.SL;

export const {
  ApiError, api, message, cookie, el, $, $$, money, parseMoney, centsToInput, when, ago,
  duration, signed, uuid, onSubmit, showFormError, clearFormError, localError, banner,
  LiveStock, showLiveState,
} = SL;

export default SL;
