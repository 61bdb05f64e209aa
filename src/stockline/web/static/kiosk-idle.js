/* stockline kiosk: an abandoned basket clears for the next customer. After `seconds`
 * without a touch, a countdown shows ("Still there?"); a touch keeps the basket, the end
 * of the countdown clears it (STOCKLINE_KIOSK_IDLE_SECONDS). */
"use strict";

(function () {
  const ACTIVITY = ["pointerdown", "keydown", "touchstart", "wheel"];

  class IdleReset {
    /** options: seconds, countdown (at most 10 s), isDirty(), onReset(), node, counter */
    constructor(options) {
      this.o = options;
      this.countdown = Math.max(1, Math.min(10, Math.round(options.seconds)));
      this.idleTimer = null;
      this.tickTimer = null;
      this.left = 0;
      for (const type of ACTIVITY) document.addEventListener(type, () => this.touch(), true);
      this.touch();
    }

    touch() {
      this.stopCountdown();
      clearTimeout(this.idleTimer);
      this.idleTimer = setTimeout(() => this.idle(), this.o.seconds * 1000);
    }

    idle() {
      if (!this.o.isDirty()) { this.touch(); return; }
      this.left = this.countdown;
      this.o.node.hidden = false;
      this.render();
      this.tickTimer = setInterval(() => {
        this.left -= 1;
        if (this.left > 0) { this.render(); return; }
        this.stopCountdown();
        this.o.onReset();
        this.touch();
      }, 1000);
    }

    render() { this.o.counter.textContent = String(this.left); }

    stopCountdown() {
      clearInterval(this.tickTimer);
      this.tickTimer = null;
      this.o.node.hidden = true;
    }
  }

  SL.IdleReset = IdleReset;
})();
