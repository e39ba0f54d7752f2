"""Server-side timing of Streamlit script runs, for bench/bench_mappage1m.py only.

A benchmark puts this folder on the server's ``PYTHONPATH`` and names a file in
``BPS_BENCH_RUN_LOG``; Python imports ``sitecustomize`` at start-up, and this one then hooks
Streamlit's ``ScriptRunner`` (the class that executes app.py for a session) so that each
script run appends JSON lines to that file:

- ``{"event": "SCRIPT_STARTED", "t": ..., "fragment": false}`` when a run starts (``fragment``:
  the run executes only ``st.fragment`` functions), and the run's end event
  (``SCRIPT_STOPPED_WITH_SUCCESS``, ``SCRIPT_STOPPED_FOR_RERUN``,
  ``FRAGMENT_STOPPED_WITH_SUCCESS``, ...), the moment Streamlit tells the browser the run is
  over (the other events, one per message sent, are not logged);
- ``{"event": "run_script_end", "t": ...}`` when the script thread is done with a request,
  including runs chained by ``st.rerun()`` and Streamlit's post-run ``gc.collect``.

``t`` is ``time.monotonic()``: one clock for every process of this machine, so the
benchmark compares it with the moment it clicked. The page under test is not touched, which
is what lets one harness time any checkout of the app. Without ``BPS_BENCH_RUN_LOG`` this
module does nothing.
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any

_LOG = os.environ.get("BPS_BENCH_RUN_LOG")


def _install(log: str) -> None:
    from streamlit.runtime.scriptrunner import script_runner as sr

    lock = threading.Lock()

    def write(record: dict[str, Any]) -> None:
        with lock, open(log, "a") as f:
            f.write(json.dumps(record) + "\n")

    init = sr.ScriptRunner.__init__
    run_script = sr.ScriptRunner._run_script

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)

        def on_event(sender: Any, event: Any, **kw: Any) -> None:
            t, name = time.monotonic(), getattr(event, "name", str(event))
            if name != "SCRIPT_STARTED" and "STOPPED" not in name:
                return  # ENQUEUE_FORWARD_MSG (one per message), SHUTDOWN
            record = {"event": name, "t": t}
            if "fragment_ids_this_run" in kw:
                record["fragment"] = bool(kw["fragment_ids_this_run"])
            write(record)

        self._bench_on_event = on_event  # the signal holds receivers weakly
        self.on_event.connect(on_event)

    def _run_script(self: Any, rerun_data: Any) -> None:
        try:
            run_script(self, rerun_data)
        finally:
            write({"event": "run_script_end", "t": time.monotonic()})

    sr.ScriptRunner.__init__ = __init__  # type: ignore[method-assign]
    sr.ScriptRunner._run_script = _run_script  # type: ignore[method-assign]


if _LOG:
    _install(_LOG)
