"""Import speed and memory on a big folder of saved pages (and of text dumps).

    .venv/bin/python bench/import_scale.py /work/shared/data/extraction --work /tmp/big \\
        [--gigabytes 1.0] [--format html|text] [--jobs 2]

Builds a folder of about --gigabytes of pages by copying the benchmark's pages (HTML, or
their w3m renderings with --format text, which must exist in bench/textdumps.py's cache),
then runs the importer in this process on one core, sampling the resident memory as it
goes. Memory is flat when it stops growing after the first pages. With --jobs N it then
imports the folder again with N worker processes (`import_corpus(jobs=N)`): wall time
against the one-process run and whether the outputs are the same bytes (sha256). The folder
is removed afterwards.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import resource
import shutil
import time
from pathlib import Path


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build(folder: Path, work: Path, gigabytes: float, fmt: str, cache: Path) -> int:
    if fmt == "html":
        pages = [gzip.decompress(p.read_bytes()) for p in sorted((folder / "html").glob("*.gz"))]
        suffix = ".html"
    else:
        pages = [p.read_bytes() for p in sorted((cache / "w3m").glob("*.txt"))]
        suffix = ".txt"
    if not pages:
        raise SystemExit("no pages to copy (for text, run bench/textdumps.py first)")
    work.mkdir(parents=True, exist_ok=True)
    total, count = 0, 0
    target = gigabytes * 1024**3
    while total < target:
        sub = work / f"part{count // 1000:03d}"
        sub.mkdir(exist_ok=True)
        data = pages[count % len(pages)]
        # a line of its own makes every copy a different file
        if fmt == "html":
            data = data.replace(b"</body>", f"<p>copy {count}</p></body>".encode(), 1)
        else:
            data += f"\ncopy {count}\n".encode()
        (sub / f"page{count:06d}{suffix}").write_bytes(data)
        total += len(data)
        count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--gigabytes", type=float, default=1.0)
    parser.add_argument("--format", default="html", choices=["html", "text"])
    parser.add_argument("--cache", type=Path, default=Path("/tmp/tagger-textdump-bench"))
    parser.add_argument("--jobs", type=int, default=1, help="also import with N processes")
    args = parser.parse_args()
    from tagger.corpus.importer import import_corpus
    from tagger.corpus.readers import ReadOptions, ReadReport

    files = build(args.folder, args.work, args.gigabytes, args.format, args.cache)
    print(f"{files} files, {args.gigabytes} GB, format {args.format}")
    samples: list[tuple[int, float]] = []
    next_sample = [0]

    def progress(_stage: str, done: int, total: int) -> None:
        if done >= next_sample[0]:
            samples.append((done, rss_mb()))
            next_sample[0] = done + max(1, total // 10)

    sink = _Digest()
    start_cpu, start_wall = time.process_time(), time.time()
    try:
        result = import_corpus(
            [args.work], sink, args.format, ReadOptions(), ReadReport(), progress=progress
        )
        cpu, wall = time.process_time() - start_cpu, time.time() - start_wall
        print(result.summary())
        print(f"{files / cpu:.1f} files/s CPU ({files / wall:.1f} wall), one process")
        print(
            "resident memory (MB) after n files: " + ", ".join(f"{n}: {m:.0f}" for n, m in samples)
        )
        if args.jobs > 1:
            parallel = _Digest()
            start = time.time()
            import_corpus([args.work], parallel, args.format, jobs=args.jobs)
            seconds = time.time() - start
            print(
                f"--jobs {args.jobs}: {seconds:.1f} s ({files / seconds:.1f} files/s) against "
                f"{wall:.1f} s with one process: {wall / seconds:.2f}x; same bytes: "
                f"{parallel.digest.hexdigest() == sink.digest.hexdigest()}"
            )
    finally:
        shutil.rmtree(args.work, ignore_errors=True)


class _Digest(io.TextIOBase):
    """Where the JSONL goes: hashed, not kept (memory is the importer's, not the output's)."""

    def __init__(self) -> None:
        self.digest = hashlib.sha256()

    def write(self, text: str) -> int:
        self.digest.update(text.encode())
        return len(text)


if __name__ == "__main__":
    main()
