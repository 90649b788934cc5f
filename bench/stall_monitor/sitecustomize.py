"""A stall monitor for the rehearsal's processes (diagnostics, not part of synthlake).

With this folder on PYTHONPATH and STALLMON_DIR set, every Python process started then runs
a thread that sleeps 10 ms at a time and, when a sleep took over 250 ms (the GIL held by
another thread, or no CPU), appends one JSON line to STALLMON_DIR/stalls-<pid>.jsonl: the
time, the gap, the process's argv and the last frames of every other thread right after.

    STALLMON_DIR=/tmp/stalls PYTHONPATH=bench/stall_monitor \
        .venv/bin/python -m bench.rehearsal --size full --out /tmp/reh
"""

import os

if os.environ.get("STALLMON_DIR"):
    import json
    import sys
    import threading
    import time
    import traceback

    def _monitor() -> None:
        path = os.path.join(os.environ["STALLMON_DIR"], f"stalls-{os.getpid()}.jsonl")
        last = time.perf_counter()
        while True:
            time.sleep(0.01)
            now = time.perf_counter()
            gap, last = now - last, now
            if gap > 0.25:
                me = threading.get_ident()
                names = {t.ident: t.name for t in threading.enumerate()}
                stacks = {
                    names.get(tid, str(tid)): [
                        f"{f.filename}:{f.lineno} {f.name}"
                        for f in traceback.extract_stack(frame)[-6:]
                    ]
                    for tid, frame in sys._current_frames().items()
                    if tid != me
                }
                with open(path, "a") as fh:
                    fh.write(
                        json.dumps(
                            {
                                "t": time.time(),
                                "gap": round(gap, 3),
                                "argv": sys.argv[:4],
                                "stacks": stacks,
                            }
                        )
                        + "\n"
                    )
                last = time.perf_counter()

    threading.Thread(target=_monitor, daemon=True, name="stallmon").start()
