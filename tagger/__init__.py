"""tagger: suggest sections, tags and entities for news articles."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

if TYPE_CHECKING:
    from tagger.api import Tagger
    from tagger.corpus.article import Article

__all__ = ["Article", "Tagger", "__version__"]


def __getattr__(name: str) -> Any:
    # Lazy so that `import tagger` (and `tagger --help`) stays instant.
    if name == "Tagger":
        from tagger.api import Tagger

        return Tagger
    if name == "Article":
        from tagger.corpus.article import Article

        return Article
    raise AttributeError(name)
