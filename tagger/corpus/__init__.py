"""Articles and the readers that turn publishers' files into them."""

from tagger.corpus.article import Article

__all__ = ["Article"]
