"""Readers at scale: throughput and peak memory of read_corpus and stdin as inputs grow.

Writes synthetic JSONL and CSV files of N articles (Reuters-length bodies) to a temporary
folder and reads each in a fresh process, so peak RSS is that of the read alone:

    .venv/bin/python bench/readers_scale.py --sizes 10000 100000

Flat memory shows as the same peak RSS for every size. Nothing here reads ../shared.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

BODY = "The council met on Monday to discuss the budget, and the mayor said taxes would rise. "

CHILD = r"""
import resource, sys, time
from tagger.corpus.readers import ReadReport, read_corpus, read_stdin_stream
path, mode = sys.argv[1], sys.argv[2]
start = time.perf_counter()
report = ReadReport()
if mode == "stdin":
    with open(path, "rb") as handle:
        n = sum(1 for _ in read_stdin_stream(handle, report))
else:
    n = sum(1 for _ in read_corpus([path], report=report))
seconds = time.perf_counter() - start
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
print(n, seconds, rss, len(report.skipped))
"""


def write(folder: Path, n: int, kind: str) -> Path:
    path = folder / f"corpus-{n}.{kind}"
    with path.open("w", encoding="utf-8") as out:
        if kind == "csv":
            out.write("id,title,body\n")
        for i in range(n):
            body = BODY * 10
            if kind == "csv":
                out.write(f'{i},Story {i},"{body}"\n')
            else:
                out.write(json.dumps({"id": f"a{i}", "title": f"Story {i}", "body": body}) + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    args = parser.parse_args()
    print(f"{'input':<11} {'articles':>9} {'seconds':>8} {'art/s':>8} {'peak RSS MB':>12}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for kind, mode in (("jsonl", "file"), ("jsonl", "stdin"), ("csv", "file")):
            for n in args.sizes:
                path = write(folder, n, kind)
                out = subprocess.run(
                    [sys.executable, "-c", CHILD, str(path), mode],
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout.split()
                count, seconds, rss = int(out[0]), float(out[1]), int(out[2])
                label = f"{kind}/{mode}"
                print(f"{label:<11} {count:>9} {seconds:>8.2f} {count / seconds:>8.0f} {rss:>12}")
                path.unlink()


if __name__ == "__main__":
    main()
