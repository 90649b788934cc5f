"""Shared plumbing of the peer benchmarks: which interpreter runs which tool, fresh child
processes with their peak memory, medians and the printed table.

Every measured run is a fresh child process, started through a forking shell: Linux keeps
a process's peak RSS across ``exec``, so a direct child of the driver would start at the
driver's peak; the shell is forked small, and its child's peak is its own. Two memory
figures come back per run: ``peak_mb``, the largest single process of the run (the
child's own ``ru_maxrss`` and its waited-for descendants', which it reports itself, see
``own_peak``, or the largest RSS the sampler saw in the tree if higher), and ``tree_mb``,
the largest sum of PSS over the child and all its descendants, sampled from ``/proc``
every 0.2 s: what a tool with worker processes holds at once (datatrove's workers come
from a forkserver, so no ``rusage`` of the child covers them; PSS rather than RSS so that
pages the workers share are counted once).
"""

from __future__ import annotations

import importlib.util
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PAGE = os.sysconf("SC_PAGE_SIZE")


def installed(module: str) -> bool:
    """Whether ``module`` imports in this interpreter (without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def synthlake_python(explicit: str | None) -> str | None:
    """The interpreter that runs synthlake's side: the flag, this one, or the repo's venv.

    The peers live in their own venv (``bench/peers/.venv``) so that their dependencies
    never touch synthlake's; synthlake's side then runs in synthlake's own venv as a
    child process, on the same inputs. (``synthlake`` is always found from the repo
    root, so the check imports what the benchmarks use, with its dependencies.)
    """
    candidates = [explicit] if explicit else [sys.executable, str(REPO / ".venv/bin/python")]
    for python in candidates:
        if not Path(python).exists():
            continue
        probe = subprocess.run(
            [python, "-c", "import synthlake.instructions.dedup, synthlake.llm.runner"],
            cwd=REPO,
            capture_output=True,
        )
        if probe.returncode == 0:
            return python
    return None


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                found += [int(c) for c in f.read().split()]
        except OSError:
            continue
    return found


def _pss_and_rss(pid: int) -> tuple[int, int]:
    """(proportional, resident) bytes of one process; (0, 0) once it is gone."""
    pss = rss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1]) * 1024
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return 0, 0
    return pss, rss


TICK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime
    except (OSError, IndexError, ValueError):
        return None


def tree_memory(pid: int, cpu: dict[int, float] | None = None) -> tuple[int, int]:
    """(summed PSS of ``pid`` and its descendants, largest single RSS among them), bytes.

    PSS, not RSS, for the sum: worker processes share the parent's libraries and pages,
    and a sum of RSS would count those once per process. ``cpu`` (pid -> CPU seconds) is
    updated with each process's CPU time so far.
    """
    total, largest, stack = 0, 0, [pid]
    while stack:
        p = stack.pop()
        pss, rss = _pss_and_rss(p)
        total += pss
        largest = max(largest, rss)
        if cpu is not None:
            seconds = _cpu_seconds(p)
            if seconds is not None:
                cpu[p] = seconds
        stack += _children(p)
    return total, largest


@dataclass
class ChildRun:
    wall_s: float
    tree_mb: float  # largest sampled PSS sum over the process tree
    largest_mb: float  # largest sampled RSS of a single process of the tree
    cpu_s: float
    stdout: str
    stderr: str
    returncode: int

    def result(self) -> dict:
        """The JSON object the child printed on its last stdout line."""
        if self.returncode != 0:
            raise RuntimeError(
                f"child failed ({self.returncode}):\n{self.stdout[-2000:]}\n{self.stderr[-4000:]}"
            )
        return json.loads(self.stdout.strip().splitlines()[-1])


def run_child(
    argv: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path = REPO,
    timeout: float | None = None,
) -> ChildRun:
    """Run ``argv`` in a fresh process (via a forking shell) and measure it."""
    out_path = Path(f"/tmp/peers-child-{os.getpid()}-{time.monotonic_ns()}")
    with open(f"{out_path}.out", "w+b") as out, open(f"{out_path}.err", "w+b") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(
            ["sh", "-c", '"$@"; exit $?', "sh", *argv],
            stdout=out,
            stderr=err,
            env=env,
            cwd=cwd,
        )
        peak_tree = peak_one = 0
        cpu: dict[int, float] = {}
        stop = threading.Event()

        def sample() -> None:
            nonlocal peak_tree, peak_one
            while not stop.is_set():
                tree, one = tree_memory(proc.pid, cpu)
                peak_tree, peak_one = max(peak_tree, tree), max(peak_one, one)
                stop.wait(0.2)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        deadline = None if timeout is None else started + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if deadline is not None and time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.02)
        wall = time.perf_counter() - started
        stop.set()
        sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        stderr = err.read().decode("utf-8", "replace")
    for suffix in (".out", ".err"):
        Path(f"{out_path}{suffix}").unlink(missing_ok=True)
    return ChildRun(
        wall_s=wall,
        tree_mb=peak_tree / 2**20,
        largest_mb=peak_one / 2**20,
        # rusage covers the processes waited for; the samples also cover workers that
        # others reap (datatrove's forkserver), to within their last 0.2 s
        cpu_s=max(usage.ru_utime + usage.ru_stime, sum(cpu.values())),
        stdout=stdout,
        stderr=stderr,
        returncode=proc.returncode,
    )


def own_peak() -> dict[str, float]:
    """What a child reports: its own peak RSS and its descendants' (largest one), in MB."""
    import resource

    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"peak_mb": round(max(me.ru_maxrss, kids.ru_maxrss) / 1024, 1)}


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def pin_two_cores() -> int:
    """Pin this process (and what it starts) to at most 2 cores, as every tool gets."""
    cores = sorted(os.sched_getaffinity(0))[:2]
    os.sched_setaffinity(0, cores)
    return len(cores)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        first = row[0].ljust(widths[0])
        rest = "  ".join(c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True))
        print(f"{first}  {rest}")
        if n == 0:
            print("-" * (sum(widths) + 2 * (len(widths) - 1)))


def machine_line() -> str:
    load = os.getloadavg()
    return (
        f"machine: {os.cpu_count()} CPUs, load average {load[0]:.1f} / {load[1]:.1f} / "
        f"{load[2]:.1f} (1/5/15 min) at {time.strftime('%Y-%m-%d %H:%M %Z')}; "
        f"python {sys.version.split()[0]}"
    )
