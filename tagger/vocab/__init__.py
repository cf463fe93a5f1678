"""Controlled vocabularies: concepts with ids, labels, aliases, hierarchy and retirement
(IPTC Media Topics, SKOS, a newsroom's own list), matched against corpus tags."""

from tagger.vocab.model import Concept, VocabError, Vocabulary

__all__ = ["Concept", "VocabError", "Vocabulary"]
