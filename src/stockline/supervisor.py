"""`serve --workers N`: uvicorn's worker supervisor, made to keep SPEC 7.1's promise.

uvicorn's `Multiprocess` restarts a worker that dies and stops when one exits with
STARTUP_FAILURE, but its parent then exits 0 whatever happened, and a worker that failed
its start-up with any other code (our shutdown watchdog exits 1) is restarted for ever:
under systemd a `serve` whose workers can never start looks alive. Here:

- a worker that exits with STARTUP_FAILURE stops every worker (uvicorn does that), and
  the parent exits 1 with one line (the app's lifespan exits with that code when a
  start-up fails, even when its shutdown watchdog has to end it: `stockline.app`);
- a worker that dies after it started is restarted, as uvicorn does;
- a worker that is gone (died and restarted, or replaced on SIGHUP) has its live gauges'
  files forgotten (`prometheus_client.multiprocess.mark_process_dead`): a dead worker's
  last open-stream count, leader flag or disconnected listener would otherwise stay in
  /metrics for as long as `serve` runs. This module never imports `stockline.metrics`:
  gauges created in the parent would count in every scrape;
- when the supervisor stops (SIGTERM, SIGINT, or the above), it waits for the workers
  at most JOIN_SECONDS, then kills what is left; a worker that ended other than cleanly
  makes the parent exit non-zero too, with one line naming it.
"""

from __future__ import annotations

import logging
import os
import signal
import time

from prometheus_client import multiprocess
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors.multiprocess import Multiprocess

log = logging.getLogger(__name__)

# a worker bounds its own shutdown (app.SHUTDOWN_SECONDS, after uvicorn's 3 s for open
# requests); one that is still there after this is killed
JOIN_SECONDS = 20.0
# uvicorn re-raises the SIGTERM or SIGINT it stopped for, so a clean worker ends by it
_CLEAN = {0, -signal.SIGTERM, -signal.SIGINT}


class Supervisor(Multiprocess):
    """`failure` is the one line to print when `run()` returned, or None: all went well."""

    failure: str | None = None

    def keep_subprocess_alive(self) -> None:
        before = self._pids()
        super().keep_subprocess_alive()
        self._forget(before - self._pids())

    def restart_all(self) -> None:
        before = self._pids()
        super().restart_all()
        self._forget(before - self._pids())

    def _pids(self) -> set[int]:
        return {p.pid for p in self.processes if p.pid is not None}

    @staticmethod
    def _forget(gone: set[int]) -> None:
        if gone and os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            for pid in gone:
                multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
            message = "forgot the live gauges of workers that are gone"
            log.info(message, extra={"pids": sorted(gone)})

    def join_all(self) -> None:
        deadline = time.monotonic() + JOIN_SECONDS
        for process in self.processes:
            process.process.join(max(0.0, deadline - time.monotonic()))
            if process.process.exitcode is None:
                log.error("worker did not stop; killing it", extra={"pid": process.pid})
                process.process.kill()
                process.process.join()
        if self.failure is not None:
            return
        codes = {process.pid: process.exitcode for process in self.processes}
        if STARTUP_FAILURE in codes.values():  # uvicorn's own check may have seen it first
            pids = ", ".join(str(pid) for pid, code in codes.items() if code == STARTUP_FAILURE)
            self.failure = f"stockline: worker {pids} failed to start (see above); stopping"
            return
        failed = [f"{pid} (exit {code})" for pid, code in codes.items() if code not in _CLEAN]
        if failed:
            self.failure = f"stockline: worker {', '.join(failed)} did not stop cleanly"
