"""Text-dump benchmark: the extraction pages rendered whole by text browsers, then cleaned.

    .venv/bin/python bench/textdumps.py /work/shared/data/extraction \\
        [--sample /work/shared/samples/000_1e6cb57eb80c17f7.txt] [--cache DIR]

Each page is rendered to plain text with w3m, lynx and html2text (menus, footers and
all, each at its default settings), and each rendering is cleaned by tagger's text-dump
reader (with the batch's cross-document line statistics, grouped by site). Bodies are
scored as in bench/extraction.py. trafilatura runs on the same text in the same run as
the reference, both on the raw text and with each blank-line paragraph wrapped in <p>.
Every figure is given for each half of the development / validation split
(bench/pagesplit.py: the validation half is never tuned on) and for all pages.
With --sample, the sample page's expected result is checked field by field.
"""

from __future__ import annotations

import argparse
import html
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent))
from extraction import by_half, load_pages, page_scores
from pagesplit import half


def render_w3m(data: bytes) -> str:
    result = subprocess.run(
        ["w3m", "-dump", "-T", "text/html", "-I", "UTF-8", "-O", "UTF-8"],
        input=data,
        capture_output=True,
        timeout=60,
        check=False,
    )
    return result.stdout.decode("utf-8", "replace")


def render_lynx(data: bytes) -> str:
    result = subprocess.run(
        [
            "lynx",
            "-dump",
            "-stdin",
            "-force_html",
            "-assume_charset=utf-8",
            "-display_charset=utf-8",
        ],
        input=data,
        capture_output=True,
        timeout=60,
        check=False,
    )
    return result.stdout.decode("utf-8", "replace")


def render_html2text(data: bytes) -> str:
    import html2text

    return html2text.html2text(data.decode("utf-8", "replace"))


def render_w3m_wide(data: bytes) -> str:
    result = subprocess.run(
        ["w3m", "-dump", "-cols", "200", "-T", "text/html", "-I", "UTF-8", "-O", "UTF-8"],
        input=data,
        capture_output=True,
        timeout=60,
        check=False,
    )
    return result.stdout.decode("utf-8", "replace")


def render_html2text_unwrapped(data: bytes) -> str:
    import html2text

    converter = html2text.HTML2Text()
    converter.body_width = 0  # one line per paragraph, as scrapers print pages
    return converter.handle(data.decode("utf-8", "replace"))


RENDERERS = {
    "w3m": render_w3m,
    "lynx": render_lynx,
    "html2text": render_html2text,
    # other layouts of the same pages, to check the cleaner does not depend on one
    "w3m-200cols": render_w3m_wide,
    "html2text-unwrapped": render_html2text_unwrapped,
}


def rendered(pages: list, name: str, cache: Path) -> dict[str, str]:
    folder = cache / name
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for page_id, data, _truth in pages:
        path = folder / f"{page_id}.txt"
        if not path.exists():
            path.write_text(RENDERERS[name](data), encoding="utf-8")
        out[page_id] = path.read_text(encoding="utf-8")
    return out


def as_paragraph_html(text: str) -> str:
    paragraphs = [p for p in text.split("\n\n") if p.strip()]
    return (
        "<html><body>" + "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs) + "</body></html>"
    )


def check_sample(path: Path) -> None:
    from tagger.corpus.readers import ReadOptions, ReadReport, read_corpus

    articles = list(read_corpus([path], "text", ReadReport(), ReadOptions()))
    article = articles[0]
    lines = {line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()}
    body_lines = [p for p in article.body.split("\n\n")]
    start, end = (
        "El Salvador President Nayib Bukele",
        "reducing the communist country’s influence in the region.",
    )
    expected_title = (
        "‘Extraordinary’: El Salvador Agrees To Take In Any Gangbangers, "
        "Convicted Criminals Deported Out Of US"
    )
    checks = {
        "title": article.title == expected_title,
        "authors": article.authors == ["Daily Caller News Foundation"],
        "date": article.published is not None
        and article.published.date().isoformat() == "2025-02-04",
        "sections": article.section == "News" and article.meta.get("sections") == ["News", "Wire"],
        "tags": article.tags == ["DCNF", "foreign-affairs", "U.S. News"],
        "body start": article.body.startswith(start),
        "body end": article.body.endswith(end),
        "body lines": all(
            " ".join(b.split()) in {" ".join(x.split()) for x in lines} for b in body_lines
        )
        and len(body_lines) == 15,
    }
    print("sample page:", ", ".join(f"{k} {'ok' if v else 'WRONG'}" for k, v in checks.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--sample", type=Path)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/tagger-textdump-bench"))
    parser.add_argument("--limit", type=int)
    parser.add_argument("--worst", type=int, default=0)
    parser.add_argument("--renderers", default="w3m,lynx,html2text")
    args = parser.parse_args()
    import trafilatura

    from tagger.corpus.textdump import LineStats, clean_dump

    if args.sample:
        check_sample(args.sample)
    pages = load_pages(args.folder, args.limit)
    hosts = {page_id: urlparse(truth["url"]).netloc for page_id, _d, truth in pages}
    halves = {page_id: half(truth["url"]) for page_id, _d, truth in pages}
    n_val = sum(h == "validation" for h in halves.values())
    print(f"{len(pages)} pages: {len(pages) - n_val} development, {n_val} validation")
    for name in args.renderers.split(","):
        if not name.startswith("html2text") and shutil.which(name.split("-")[0]) is None:
            print(f"{name}: not installed, skipped")
            continue
        texts = rendered(pages, name, args.cache)
        truth = {page_id: t["articleBody"] for page_id, _d, t in pages}
        results = {}
        start = time.process_time()
        stats = LineStats()
        for page_id, text in texts.items():
            stats.add_document(hosts[page_id], text)
        per_page = {}
        for page_id, text in texts.items():
            dump = clean_dump(text, stats, hosts[page_id])
            per_page[page_id] = page_scores(truth[page_id], "" if dump.skip else dump.body)
        seconds = time.process_time() - start
        results["tagger text reader"] = (per_page, seconds)
        for label, prepare in (
            ("trafilatura (raw text)", lambda t: t),
            ("trafilatura (<p> per paragraph)", as_paragraph_html),
        ):
            start = time.process_time()
            scores = {
                pid: page_scores(truth[pid], trafilatura.extract(prepare(text)) or "")
                for pid, text in texts.items()
            }
            results[label] = (scores, time.process_time() - start)
        for label, (scores, seconds) in results.items():
            for which, r in by_half(scores, halves).items():
                print(
                    f"{name:<10} {label:<32} {which:<10} P {r['precision']:.4f}  "
                    f"R {r['recall']:.4f}  F1 {r['f1']:.4f}  {len(texts) / seconds:.0f} pages/s"
                )
        if args.worst:
            # only development pages are listed: the validation half is never looked into
            dev = [(pid, s) for pid, s in per_page.items() if halves[pid] == "dev"]
            for page_id, (p, r) in sorted(dev, key=lambda kv: sum(kv[1]))[: args.worst]:
                print(f"    {page_id[:12]} P {p:.3f} R {r:.3f}")


if __name__ == "__main__":
    main()
