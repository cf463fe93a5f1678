"""Body-extraction benchmark on saved HTML pages with ground truth.

    .venv/bin/python bench/extraction.py /work/shared/data/extraction [--limit N]

Scores article bodies as scrapinghub/article-extraction-benchmark does: word tokens
(runs of \\w), 4-token shingles compared as multisets, precision and recall per page
averaged over pages, F1 from the averages. Reports tagger's HTML reader next to plain
trafilatura (default settings) measured in the same run, and pages per second, on each half
of the development / validation split (bench/pagesplit.py: the validation half is never
tuned on) and on all pages.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from pagesplit import half

_TOKEN = re.compile(r"\w+")


def shingles(text: str, n: int = 4) -> Counter[tuple[str, ...]]:
    tokens = _TOKEN.findall(text or "")
    if len(tokens) < n:
        return Counter([tuple(tokens)]) if tokens else Counter()
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def page_scores(expected: str, predicted: str) -> tuple[float, float]:
    """Precision and recall of one page, on shingle multisets (empty vs empty is perfect)."""
    truth, pred = shingles(expected), shingles(predicted)
    tp = sum((truth & pred).values())
    fp = sum(pred.values()) - tp
    fn = sum(truth.values()) - tp
    precision = tp / (tp + fp) if tp + fp else (1.0 if not truth else 0.0)
    recall = tp / (tp + fn) if tp + fn else 1.0
    return precision, recall


def summarise(pairs: list[tuple[float, float]]) -> dict[str, float]:
    p = sum(x for x, _ in pairs) / len(pairs)
    r = sum(y for _, y in pairs) / len(pairs)
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}


def load_pages(folder: Path, limit: int | None) -> list[tuple[str, bytes, dict]]:
    truth = json.loads((folder / "ground-truth.json").read_text(encoding="utf-8"))
    pages = []
    for path in sorted((folder / "html").glob("*.html.gz"))[:limit]:
        page_id = path.name.split(".")[0]
        pages.append((page_id, gzip.decompress(path.read_bytes()), truth[page_id]))
    return pages


def by_half(
    per_page: dict[str, tuple[float, float]], halves: dict[str, str]
) -> dict[str, dict[str, float]]:
    """Scores of the development half, the validation half and all pages."""
    out = {}
    for which in ("dev", "validation", "all"):
        pairs = [s for pid, s in per_page.items() if which == "all" or halves[pid] == which]
        if pairs:
            out[which] = summarise(pairs)
    return out


def report_halves(label: str, per_page: dict, halves: dict[str, str], extra: str = "") -> None:
    for which, r in by_half(per_page, halves).items():
        print(
            f"{label:<36} {which:<10} P {r['precision']:.4f}  R {r['recall']:.4f}  "
            f"F1 {r['f1']:.4f}{extra}"
        )


def run(
    name: str, extract: Callable[[bytes, str], str], pages: list[tuple[str, bytes, dict]]
) -> tuple[dict[str, float], dict[str, tuple[float, float]]]:
    per_page = {}
    start = time.process_time()
    for page_id, data, truth in pages:
        per_page[page_id] = page_scores(truth["articleBody"], extract(data, truth["url"]))
    seconds = time.process_time() - start
    result = summarise(list(per_page.values()))
    result["pages_per_s"] = len(pages) / seconds if seconds else float("inf")
    halves = {page_id: half(truth["url"]) for page_id, _d, truth in pages}
    report_halves(name, per_page, halves, f"  {result['pages_per_s']:.1f} pages/s (CPU)")
    return result, per_page


def tagger_body(data: bytes, url: str) -> str:
    from tagger.corpus.html import extract_page

    page = extract_page(data, url=url)
    return "" if page.skip else page.body  # a skipped page yields no article


def trafilatura_body(data: bytes, url: str) -> str:
    import trafilatura

    return trafilatura.extract(data, url=url) or ""


def trafilatura_tuned(data: bytes, url: str) -> str:
    import trafilatura

    return trafilatura.extract(data, url=url, include_comments=False, favor_precision=True) or ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--limit", type=int)
    parser.add_argument(
        "--worst", type=int, default=0, help="List the N worst development pages for tagger."
    )
    args = parser.parse_args()
    pages = load_pages(args.folder, args.limit)
    n_val = sum(half(t["url"]) == "validation" for _i, _d, t in pages)
    print(f"{len(pages)} pages: {len(pages) - n_val} development, {n_val} validation")
    run("trafilatura (default)", trafilatura_body, pages)
    run("trafilatura (precision, no comm.)", trafilatura_tuned, pages)
    _result, per_page = run("tagger html reader", tagger_body, pages)
    if args.worst:
        dev_ids = {pid for pid, _d, t in pages if half(t["url"]) == "dev"}
        # only development pages are listed: the validation half is never looked into
        ranked = sorted(
            ((pid, s) for pid, s in per_page.items() if pid in dev_ids),
            key=lambda kv: kv[1][0] + kv[1][1],
        )
        for page_id, (p, r) in ranked[: args.worst]:
            print(f"  {page_id[:12]}  P {p:.3f}  R {r:.3f}")


if __name__ == "__main__":
    main()
