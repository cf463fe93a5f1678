"""Shared helpers for the benchmarks (run by hand on ../shared/data, never as tests)."""

from __future__ import annotations

import json
import resource
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def peak_rss_mb() -> float:
    """Peak resident memory of this process's own address space so far, in MB.

    VmHWM from /proc where there is one: getrusage's ru_maxrss survives execve, so a
    spawned child would report its parent's peak when that was higher (bench/scale_train.py
    trains tagger in a spawned child after the reference's dense weights have grown the
    parent to several GB)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def memory_now() -> dict[str, float]:
    """This process's resident memory now and its peak (VmRSS, VmHWM, MB), its CPU seconds
    (all threads) and the machine's 1-minute load average."""
    import os

    out = {"rss_mb": 0.0, "peak_mb": 0.0}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                out["rss_mb"] = int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                out["peak_mb"] = int(line.split()[1]) / 1024
    except OSError:
        out["peak_mb"] = peak_rss_mb()
    return out | {"cpu_s": round(time.process_time(), 1), "load": os.getloadavg()[0]}


@contextmanager
def memory_log(path: Path, stage: Callable[[], str], every: float = 10.0) -> Iterator[None]:
    """Append `memory_now()` and the current stage to `path` (JSONL) every `every` seconds
    while the block runs, from a thread: a run stopped early still shows where memory went."""
    import threading

    stop = threading.Event()
    start = time.monotonic()

    def sample() -> None:
        with path.open("a", encoding="utf-8") as log:
            while True:
                record = {"t": round(time.monotonic() - start, 1), "stage": stage()}
                log.write(json.dumps(record | memory_now()) + "\n")
                log.flush()
                if stop.wait(every):
                    return

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _status_kb(pid: int | str, key: str, name: str = "status") -> int:
    """A value in kB from /proc/PID/status or smaps_rollup (0 when the process is gone)."""
    try:
        with open(f"/proc/{pid}/{name}", encoding="ascii") as lines:
            for line in lines:
                if line.startswith(key):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


class MemorySampler:
    """Samples, every `interval` seconds in a thread, this process's resident memory and
    that of its children (joblib's workers): RSS (VmRSS), which counts a page shared by
    several processes (memory-mapped arrays, shared libraries) once in each, and PSS
    (/proc/PID/smaps_rollup), which splits it between them, so the tree's PSS adds up to
    what it really holds. Keeps the largest of each, overall and by `stage` (set by
    the caller, e.g. from a progress callback). Linux only (zeros elsewhere)."""

    def __init__(self, interval: float = 1.0) -> None:
        import threading

        self.interval = interval
        self.stage = "start"
        self.peaks: dict[str, dict[str, float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def sample(self) -> None:
        import psutil

        try:
            children = [c.pid for c in psutil.Process().children(recursive=True)]
        except psutil.Error:
            children = []
        rss = _status_kb("self", "VmRSS:") / 1024
        pss = _status_kb("self", "Pss:", "smaps_rollup") / 1024
        tree_rss = rss + sum(_status_kb(c, "VmRSS:") for c in children) / 1024
        tree_pss = pss + sum(_status_kb(c, "Pss:", "smaps_rollup") for c in children) / 1024
        now = {"rss_mb": rss, "pss_mb": pss, "tree_rss_mb": tree_rss, "tree_pss_mb": tree_pss}
        for key in ("all", self.stage):
            peak = self.peaks.setdefault(key, dict.fromkeys(now, 0.0))
            for name, value in now.items():
                peak[name] = max(peak[name], value)


def tree_cpu_seconds() -> float:
    """CPU seconds (user + system) of this process, of its children that have ended and
    been waited for, and of its living descendants (joblib's workers): take differences.
    On a shared machine CPU time holds where wall time does not; a worker that ends
    between two readings moves from the living to the ended without being lost."""
    import psutil

    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = time.process_time() + children.ru_utime + children.ru_stime
    for process in psutil.Process().children(recursive=True):
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


@contextmanager
def timer() -> Iterator[Callable[[], float]]:
    start = time.perf_counter()
    elapsed: list[float] = []
    yield lambda: elapsed[0] if elapsed else time.perf_counter() - start
    elapsed.append(time.perf_counter() - start)


def one_core() -> Any:
    """Limit BLAS/OpenMP pools to one thread (for 'per core' speed figures)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)


def save_results(name: str, results: dict[str, Any]) -> Path:
    out = Path(__file__).parent / "results" / f"{name}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=float) + "\n")
    return out


def print_rows(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))


def modapte_90(path: str) -> tuple[list[Any], list[Any], list[str]]:
    """Reuters-21578 ModApte train/test with the topics that have >= 1 train and >= 1 test
    document (the usual 90; 7,770 / 3,019 articles), other topics dropped."""
    from collections import Counter

    from tagger.corpus.readers import modapte_split, read_corpus

    train, test = modapte_split(read_corpus([path], "reuters"))
    in_train = Counter(t for a in train for t in a.tags)
    in_test = Counter(t for a in test for t in a.tags)
    labels = sorted(t for t in in_train if t in in_test)
    keep = set(labels)
    for article in train + test:
        article.tags = [t for t in article.tags if t in keep]
        article.section = None
    return [a for a in train if a.tags], [a for a in test if a.tags], labels
