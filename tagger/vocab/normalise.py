"""Label keys: the spelling-independent form under which tags and concept labels match."""

from __future__ import annotations

import re
import unicodedata

# Titles and honorifics that prefix a person's name in tag lines ("Sen. Marco Rubio").
TITLES = frozenset(
    {
        "sen", "senator", "rep", "representative", "gov", "governor", "pres", "president",
        "vice president", "vp", "secretary", "sec", "mr", "mrs", "ms", "miss", "dr", "prof",
        "professor", "rev", "reverend", "fr", "father", "sir", "dame", "lord", "lady",
        "gen", "general", "col", "colonel", "lt", "capt", "captain", "adm", "admiral",
        "judge", "justice", "chief justice", "mayor", "minister", "prime minister", "pm",
        "king", "queen", "prince", "princess", "pope", "cardinal", "bishop", "archbishop",
        "former president", "former", "speaker", "leader", "chancellor", "ambassador",
    }
)  # fmt: skip
_PUNCT = re.compile(r"[^\w\s]+")
_SPACES = re.compile(r"\s+")
_TITLE_RE = re.compile(
    r"^(?:(?:" + "|".join(sorted((re.escape(t) for t in TITLES), key=len, reverse=True)) + r")\s+)+"
)


def label_key(label: str) -> str:
    """Case, accents, hyphens, underscores, '&' and punctuation do not matter:
    'Foreign-Affairs', 'foreign affairs' and 'FOREIGN_AFFAIRS' share one key."""
    text = unicodedata.normalize("NFKD", label)
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    text = text.replace("&", " and ").replace("_", " ").replace("-", " ").replace("/", " ")
    text = text.replace("'", "").replace("\u2019", "")  # possessives: "Children's" = "childrens"
    text = _PUNCT.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


def strip_title(key: str) -> str:
    """A label key without leading titles ('sen marco rubio' -> 'marco rubio')."""
    stripped = _TITLE_RE.sub("", key)
    return stripped if stripped else key


def looks_like_name(label: str) -> bool:
    """Two to four capitalised words: a person's name, as tag lines write them."""
    words = label.split()
    return 2 <= len(words) <= 4 and all(w[:1].isupper() for w in words)
