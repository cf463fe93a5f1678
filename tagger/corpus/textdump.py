"""Scraped text dumps of whole pages: recover the article and its metadata, drop the rest.

A dump is what a text browser or a scraper prints for a page: menus, trending lists,
share counters, login prompts and footers around the article. The cleaner

1. normalises lines (link markers of lynx, Markdown of html2text, bullets), and joins
   lines that a renderer hard-wrapped back into paragraphs;
2. marks lines that are boilerplate by their look (short link lists, counters, share and
   login prompts, copyright and syndication notices) and by cross-document evidence
   (lines that repeat on many pages of one source, counted in a first pass by `LineStats`);
3. takes the body as the run of paragraphs with the most prose in it and the least
   boilerplate (body text extraction: a maximum-sum segment), then drops boilerplate
   inside it;
4. reads title, byline, date, sections and tags from the lines around the body; tag
   lines that lost their separators are split with the known tag vocabulary.

Text that shows no sign of a page around it passes through intact (first line the title).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from tagger.corpus.article import Article, content_id
from tagger.corpus.registry import (
    ReadOptions,
    ReadReport,
    Source,
    register_preparer,
    register_stream,
)
from tagger.corpus.sources import close_source, finish, open_path, read_document
from tagger.corpus.text import UndecodableError, clean_text, decode_bytes
from tagger.errors import InputError

SEP = "\u2063"  # invisible separator: where a link started or ended in the rendering
MIN_BODY_WORDS = 25

# -- line normalisation -------------------------------------------------------------------

_LYNX_MARKER = re.compile(r"\[\d+\]")
# html2text wraps inside URLs too: once lines are joined a URL may hold spaces
_MD_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_MD_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
LYNX_LINK_WORDS = 2  # lynx marks where a link starts, not where it ends: count two words
_MD_EMPHASIS = re.compile(r"(\*\*|__)")
# html2text writes <em> as _text_: the underscores are not part of the words
_MD_ITALIC = re.compile(r"(?<![\w_])_(?=\S)(.+?)(?<=\S)_(?![\w_])")
_MD_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!])")
_BULLET = re.compile(r"^(?:[•◦▪▸►‣·∙●○■□☆]|[-*+](?=\s)|\d{1,3}[.)](?=\s))\s*")
_HEADING = re.compile(r"^#{1,6}\s+")
_IMAGE_MARK = re.compile(  # form widgets, image placeholders and file names
    r"^\[[ xX*]?\]\s*|^\([ *]\)\s*|\[(?:IMG|img|image|INLINE|BUTTON)\]"
    r"|\[[^\]]{0,40}\.(?:jpe?g|png|gif|svg)\]"
)
_WORD = re.compile(r"\w+")
_SENTENCE_END = re.compile(r"\w[.!?…]+[\"”’)]*(?:\s|$)")
_UNBREAKABLE = re.compile(r"\S{25,}")
_QUOTE = re.compile(r"^(?:>\s?)+")
_BRACKETED = re.compile(r"^\[[^\]]*\]$")  # w3m image names, [INS::INS], form widgets


def _markup(raw: str) -> tuple[str, str, bool, bool, int]:
    """(plain text, text with SEP at link edges, bullet, heading, links) of one paragraph."""
    text = _QUOTE.sub("", raw.strip())
    heading = bool(_HEADING.match(text))
    text = _HEADING.sub("", text)
    bullet = bool(_BULLET.match(text))
    if bullet:
        text = _BULLET.sub("", text)
    text = _MD_IMAGE.sub(" ", text)
    links = LYNX_LINK_WORDS * len(_LYNX_MARKER.findall(text))
    text = _LYNX_MARKER.sub(SEP, text)
    md_links = _MD_LINK.findall(text)
    links += sum(len(_WORD.findall(m)) for m in md_links)
    text = _MD_LINK.sub(lambda m: f"{SEP}{m.group(1)}{SEP}", text)
    text = _MD_EMPHASIS.sub("", text)
    text = _MD_ITALIC.sub(r"\1", text)
    text = _MD_ESCAPE.sub(r"\1", text)
    text = _IMAGE_MARK.sub(" ", text)
    if not bullet and _BULLET.match(text.lstrip(SEP + " ")):
        bullet = True
        text = _BULLET.sub("", text.lstrip(SEP + " "))
    plain = " ".join(text.replace(SEP, " ").split())
    return plain, " ".join(text.split()), bullet, heading, links


def line_key(text: str) -> str:
    """What makes two lines 'the same line' across pages: case, spacing and numbers ignored."""
    return re.sub(r"\d+", "0", " ".join(text.lower().split()))


# -- cross-document evidence ---------------------------------------------------------------


_NO_DIGITS = str.maketrans("0123456789", "ghijklmnop")


class LineStats:
    """Document frequency of lines per source, in fixed memory (a count-min sketch).

    Counts only ever over-estimate, and with 4 rows of 2**20 counters a line seen in a
    handful of pages is almost never taken for one seen in hundreds.
    """

    def __init__(self, width: int = 1 << 20, depth: int = 4, vocabulary_size: int = 50_000):
        import numpy as np

        self._table = np.zeros((depth, width), dtype=np.uint32)
        self._width = width
        self.documents: Counter[str] = Counter()
        self.tags: Counter[str] = Counter()
        self._vocabulary_size = vocabulary_size

    def _slots(self, group: str, key: str) -> list[int]:
        digest = hashlib.blake2b(f"{group}\0{key}".encode(), digest_size=16).digest()
        return [
            int.from_bytes(digest[4 * i : 4 * i + 4], "little") % self._width
            for i in range(self._table.shape[0])
        ]

    def add_document(self, group: str, text: str) -> None:
        """Count one page's distinct lines (and the separated tags it states)."""
        units = paragraphs(text)
        # an exact copy of a page already counted is not more evidence
        digest = hashlib.sha1(text.encode()).hexdigest().translate(_NO_DIGITS)
        page_key = "\0page\0" + digest  # letters only: line_key() folds digits
        if self.frequency(group, page_key) > 0:
            return
        for row, slot in enumerate(self._slots(group, line_key(page_key))):
            self._table[row, slot] += 1
        self.documents[group] += 1
        for key in {line_key(unit.text) for unit in units}:
            for row, slot in enumerate(self._slots(group, key)):
                self._table[row, slot] += 1
        for tag_list in tag_lists(units):
            if not _SEPARATED.search(tag_list):
                continue  # glued lists are what the vocabulary is for, not where it comes from
            for tag in split_tags(tag_list, ()):
                if tag in self.tags or len(self.tags) < self._vocabulary_size:
                    self.tags[tag] += 1

    def frequency(self, group: str, text: str) -> int:
        """How many pages of the group hold this line (an upper bound)."""
        slots = self._slots(group, line_key(text))
        return int(min(self._table[row, slot] for row, slot in enumerate(slots)))

    def is_common(self, group: str, text: str) -> bool:
        """A line on at least 3 pages and a tenth of the pages of its source."""
        pages = self.documents.get(group, 0)
        if pages < 3:
            return False
        return self.frequency(group, text) >= max(3, 0.1 * pages)

    def vocabulary(self) -> list[str]:
        return [tag for tag, _n in self.tags.most_common()]


# -- boilerplate by look --------------------------------------------------------------------

_BOILER_SHORT = re.compile(
    "^(?:"
    + "|".join(
        [
            r"share|shares|share (?:on|this|via)\b.*|tweet|email|e-mail|print|save",
            r"comments?|\d+ comments?|views?|likes?|follow us.*",
            r"log ?in|login|sign ?in|sign ?up.*|register|subscribe.*|log ?out|my account",
            r"forgot(?:ten)? (?:your )?password\??|retrieve your password|remember me",
            r"welcome back!?|search|search for:?|menu|close|home|skip to .*|back to top",
            r"read more.*|continue reading.*|load more.*|view all.*|see all.*|show more.*",
            r"more stories.*|advertisement|sponsored.*|trending.*",
            r"most (?:popular|read|viewed|shared).*|related(?: articles| stories| posts)?:?",
            r"recommended.*|you may also like.*|popular.*|latest(?: news| stories)?|top stories",
            r"next|previous|next (?:article|post|story).*|previous (?:article|post|story).*",
            r"no result|leave a (?:comment|reply).*|newsletter.*",
            r"privacy policy|cookie policy|terms of (?:service|use)|contact us|about us|accept",
            r"cookies? settings|manage (?:cookies|preferences)|listen to (?:this )?article.*",
            r"reading time.*|\d+ min read",
            r"photo:.*|image:.*|credit:.*|getty images|ap photo.*|file photo.*",
        ]
    )
    + ")$",
    re.I,
)
_COUNTER = re.compile(r"^[\d.,]+\s*[kKmM]?(?:\s+[\d.,]+\s*[kKmM]?)*$|^\W+$")
_SHARE_RUN = re.compile(r"(?:share|tweet|pin|email)\s*(?:on\s+\w+)?\s*\d*", re.I)
_BOILER_ANY = re.compile(
    "|".join(
        [
            r"all rights reserved|©|\(c\) \d{4}|copyright \d{4}|copyright ©",
            r"republish|syndicat|reprint|must include our logo|licensing@",
            r"this (?:article|story|content) (?:was )?(?:originally )?(?:published|appeared)",
            r"we use cookies|by (?:using|continuing to use) (?:this|our) (?:site|website)",
            r"please enter your (?:username|email)|enable javascript",
            r"your browser does not support",
            r"subscribe to (?:our|the) newsletter|sign up for (?:our|the) (?:free )?newsletter",
        ]
    ),
    re.I,
)
# Picture captions and credits, embedded posts: not the article's text.
_CAPTION = re.compile(
    r"^(?:image|photo|picture|video|graphic|media)\s+(?:copyright|caption|source|credit)s?\b"
    r"|\((?:image|photo|picture|pic|credit|source)s?\s*:[^()]{1,80}\)\s*$"
    r"|\bphotograph:\s*[^.]{1,80}$|^(?:twitter|facebook|instagram) post by @"
    r"|^(?:report|embed|view this post on instagram)$",
    re.I,
)
# Where the article is over: its comments start here.
_COMMENTS = re.compile(
    r"^(?:\[?\s*\d+\s+(?:comments?|responses|replies)\s*\]?"
    r"|(?:top rated |reader |readers'? |user |show |view |view all |load |post a |add a "
    r"|leave a |join the |most recent |newest |oldest )?(?:comments?|discussion|conversation"
    r"|replies)(?:\s*\(\d+\))?:?|\d+ (?:comments?|responses|replies|thoughts on .*)"
    r"|(?:leave|post|write|add) a (?:reply|comment).*|what do you think\??)$",
    re.I,
)
# Headers of link boxes: after the article, or a sidebar inside it (so not a hard stop).
_RELATED = re.compile(
    r"^(?:related (?:articles|stories|posts|content|coverage|news|reading)?:?"
    r"|more (?:from|on|in|stories|news|articles) .{0,40}|you (?:might|may) also like.*|read next:?"
    r"|recommended (?:for you|stories|articles|reading|videos)?|(?:most )?popular (?:stories"
    r"|articles|now)|you might be interested in.*|trending (?:now|stories|articles)?"
    r"|around the web|from the web|more stories|latest (?:news|stories|articles|videos)"
    r"|editor'?s picks|don't miss|sponsored (?:content|stories))$",
    re.I,
)
_TAG_LINE = re.compile(
    r"^(?:tags?|tagged(?: with| in)?|topics?|keywords?|related topics|more on|filed under)"
    r"\s*:\s*(.*)$",
    re.I,
)
_SECTION_LINE = re.compile(
    r"^(?:in|posted in|published in|filed in|category|categories|section|sections)"
    r"\s*:?\s+(.{1,120})$",
    re.I,
)
_BREADCRUMB = re.compile(r"^(?:home|start|front page)(?:\s*[>»/|›:→]\s*|\s+)(.{1,120})$", re.I)
_CRUMBS = re.compile(r"^([^.!?:]{1,40}(?:\s+[>»/›→]\s+[^.!?:]{1,40})+)$")
_BYLINE = re.compile(
    r"^(?:by|written by|words by|story by|reporting by|author:|authors:|von|par)\s+(.{2,160})$",
    re.I,
)

# -- dates ------------------------------------------------------------------------------

_MONTHS = {
    m: i + 1
    for i, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ]
    )
    for m in names
}
_MONTH = r"(?P<month>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_TIME = r"(?:,?\s*(?:at\s+)?(?P<hour>\d{1,2}):(?P<minute>\d{2})\s*(?P<ampm>[ap]\.?m\.?)?)?"
_DATE_PATTERNS = [
    re.compile(_MONTH + r"\s+(?P<day>\d{1,2})(?:st|nd|rd|th)?,?\s+(?P<year>\d{4})" + _TIME, re.I),
    re.compile(
        r"(?P<day>\d{1,2})(?:st|nd|rd|th)?\s+" + _MONTH + r",?\s+(?P<year>\d{4})" + _TIME, re.I
    ),
    re.compile(
        r"(?P<year>\d{4})-(?P<monthnum>\d{2})-(?P<day>\d{2})"
        r"(?:[T ](?P<hour>\d{2}):(?P<minute>\d{2}))?"
    ),
]


def find_date(text: str) -> tuple[datetime, tuple[int, int]] | None:
    """The first date written in a line, with its span."""
    for pattern in _DATE_PATTERNS:
        match = pattern.search(text)
        if not match:
            continue
        parts = match.groupdict()
        month = _MONTHS.get((parts.get("month") or "").lower().rstrip(".")) or int(
            parts.get("monthnum") or 0
        )
        hour = int(parts.get("hour") or 0)
        ampm = (parts.get("ampm") or "").lower().replace(".", "")
        if ampm == "pm" and hour < 12:
            hour += 12
        elif ampm == "am" and hour == 12:
            hour = 0
        try:
            value = datetime(
                int(parts["year"]),
                month,
                int(parts["day"]),
                hour,
                int(parts.get("minute") or 0),
                tzinfo=timezone.utc,
            )
        except (ValueError, TypeError):
            continue
        return value, match.span()
    return None


def _is_date_line(text: str) -> bool:
    found = find_date(text)
    if not found:
        return False
    start, end = found[1]
    rest = (text[:start] + text[end:]).strip(" ,|-–—·:")
    rest = re.sub(
        r"^(?:published|updated|posted|last updated|on|date|monday|tuesday|wednesday|thursday"
        r"|friday|saturday|sunday|,|\s)+",
        "",
        rest,
        flags=re.I,
    )
    return len(rest.split()) <= 3


# -- tag lines ------------------------------------------------------------------------------

_SEPARATED = re.compile(r"[,;|•·" + SEP + "]")
_TAG_SPLIT = re.compile(r"\s*(?:[,;|•·#]|\s{2,}|" + SEP + r")\s*")
# Where glued tags meet: 'affairsU.S.' (lower to upper, not 'McDonald' or 'LinkedIn'),
# 'USNews' (acronym to a capitalised word), 'DCNFforeign-affairs' (acronym to a slug).
_CASE_CUT = re.compile(
    r"(?<=[a-z]{3})(?=[A-Z](?:[A-Z.]|[a-z]{2}))|(?<=[A-Z])(?=[A-Z][a-z]{2})(?![A-Z][a-z]+-[a-z])"
    r"|(?<=[A-Z]{2})(?=[a-z]+-[a-z])"
)


def tag_lists(units: Sequence[Unit]) -> list[str]:
    """The raw tag lists (after 'Tags:') a page states, for the vocabulary pass."""
    out = []
    for unit in units:
        match = _TAG_LINE.match(unit.raw)
        if match and match.group(1).strip(SEP + " "):
            out.append(match.group(1))
    return out


def split_tags(text: str, vocabulary: Sequence[str]) -> list[str]:
    """Tags from a tag list; glued ones ('DCNFforeign-affairsU.S. News') split by vocabulary.

    Explicit separators (commas, bullets, link boundaries) decide first. A glued piece is
    cut where known tags match it, else at case changes (lower to upper, acronym to word).
    """
    tags = []
    for piece in _TAG_SPLIT.split(text):
        piece = piece.strip(" .:" + SEP)
        if not piece:
            continue
        if _SEPARATED.search(text):
            # separated lists can still hold glued pieces: only split those by vocabulary
            tags.extend(_segment(piece, vocabulary, case_cuts=False))
        else:
            tags.extend(_segment(piece, vocabulary, case_cuts=True))
    seen: dict[str, str] = {}
    for tag in tags:
        seen.setdefault(tag.lower(), tag)
    return list(seen.values())


def _segment(text: str, vocabulary: Sequence[str], case_cuts: bool) -> list[str]:
    """Cut `text` into known tags and unknown pieces: fewest unknown pieces first.

    Ties go to fewer unknown characters, then fewer pieces. An unknown piece never spans
    a case change, and no piece is a single letter ('FEMASenate' is FEMA + Senate, not
    FEMA + S + enate): a case cut one letter from another cut is dropped.
    """
    lower = text.lower()
    known: dict[int, list[int]] = {}
    for tag in vocabulary:
        t = tag.lower()
        if len(t) < 2 or len(t) > len(lower):
            continue
        start = lower.find(t)
        while start != -1:
            known.setdefault(start, []).append(start + len(t))
            start = lower.find(t, start + 1)
    fixed = {0, len(text)} | set(known) | {e for ends in known.values() for e in ends}
    case_points: set[int] = set()
    if case_cuts:
        for point in sorted(m.start() for m in _CASE_CUT.finditer(text)):
            near = {point - 1, point + 1} & fixed or point - 1 in case_points
            if point in fixed or not near:
                case_points.add(point)
    cuts = fixed | case_points
    if len(cuts) == 2:
        return [text.strip()]
    points = sorted(cuts)
    Cost = tuple[int, int, int]
    best: dict[int, tuple[Cost, list[str]]] = {0: ((0, 0, 0), [])}
    for i in points:
        if i not in best:
            continue
        (unknown, chars, count), parts = best[i]
        for j in points:
            if j <= i:
                continue
            piece = text[i:j].strip()
            if len(piece) < 2:
                continue  # never a one-letter tag (nor an empty one)
            if j in known.get(i, ()):
                cost = (unknown, chars, count + 1)
            elif any(i < p < j for p in case_points):
                continue  # an unknown piece never spans a case change
            else:
                cost = (unknown + 1, chars + len(piece), count + 1)
            if j not in best or cost < best[j][0]:
                best[j] = (cost, [*parts, piece])
    return best.get(len(text), ((0, 0, 0), [text.strip()]))[1]


# -- paragraphs -------------------------------------------------------------------------------


@dataclass
class Unit:
    """A paragraph (wrapped lines joined) or a single line, with what it looks like."""

    text: str
    raw: str
    start: int  # index of its first line
    bullet: bool = False
    heading: bool = False
    links: int = 0  # words inside links
    boiler: bool = False
    common: bool = False
    stop: bool = False  # comments start here
    related: bool = False  # a box of links starts here
    caption: bool = False  # a picture's caption or credit, an embedded post's frame

    @property
    def words(self) -> int:
        return len(_WORD.findall(self.text))

    @property
    def link_heavy(self) -> bool:
        return self.links > 0.4 * max(self.words, 1)

    @property
    def prose(self) -> bool:
        words = self.words
        if self.bullet or self.heading or words < 8:
            return False
        if self.link_heavy or self.text.endswith(("...", "…")):  # a teaser, cut short
            return False
        sentences = len(_SENTENCE_END.findall(self.text))
        if words >= 25:
            # run-on "paragraphs" without full stops are lists of headlines joined up
            return sentences >= 1 and words <= 80 * sentences
        return bool(re.search(r"[.!?:;\"”’)]$", self.text))


def wrap_width(lines: Sequence[str]) -> int | None:
    """The column a renderer wrapped at, when it did (most long lines end near it).

    Lines holding a word too long to break (URLs) overflow any width and are not counted.
    """
    lengths = [len(line) for line in lines if len(line) >= 30 and not _UNBREAKABLE.search(line)]
    if len(lengths) < 4:
        return None
    counts = Counter(lengths)
    best, best_count = None, 0
    for width in range(40, 260):
        longer = sum(n for length, n in counts.items() if length > width + 2)
        if longer > 0.1 * len(lengths):
            continue
        near = sum(n for length, n in counts.items() if width - 12 < length <= width + 2)
        if near > best_count:
            best, best_count = width, near
    if best is None or best_count < max(3, 0.15 * len(lengths)):
        return None
    return best


def paragraphs(text: str) -> list[Unit]:
    """Units of a dump: hard-wrapped lines joined back into paragraphs, markup removed."""
    text = clean_text(text.replace("\t", "    "))
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if line.strip() in ("References", "Visible links", "Hidden links:"):
            lines = lines[:i]  # lynx prints its list of links last
            break
    width = wrap_width(lines)
    raw_units: list[list[str]] = []
    previous = ""
    for line in lines:
        if not line.strip():
            previous = ""
            continue
        stripped = _QUOTE.sub("", line.strip())
        starts_item = bool(_BULLET.match(stripped) or _HEADING.match(stripped))
        if (
            width
            and previous
            and not starts_item
            and len(previous) + 1 + len(line.split(" ", 1)[0]) > width - 4
        ):
            raw_units[-1].append(line)
        else:
            raw_units.append([line])
        previous = line
    units = []
    for index, group in enumerate(raw_units):
        plain, raw, bullet, heading, links = _markup(
            " ".join(_QUOTE.sub("", g.strip()) if i else g for i, g in enumerate(group))
        )
        if not plain or plain in ("|", "*", "-", "—") or _BRACKETED.match(plain):
            continue
        units.append(Unit(plain, raw, index, bullet, heading, links))
    return units


def _mark(units: list[Unit], stats: LineStats | None, group: str) -> None:
    for unit in units:
        words = unit.words
        text = unit.text
        if (
            _BOILER_ANY.search(text)
            or (words <= 12 and _BOILER_SHORT.match(text))
            or _COUNTER.match(text)
            or (_SHARE_RUN.sub("", text).strip() == "" and words <= 8)
        ):
            unit.boiler = True
        if stats is not None and stats.is_common(group, text):
            unit.common = True
        if _CAPTION.search(text):
            unit.caption = True
        if words <= 8 and _COMMENTS.match(text.strip(" »>:")) and not unit.links:
            # a link ('12 comments', 'View comments') jumps to the comments or counts
            # them; the comments section's own header is not a link
            unit.stop = True
        elif words <= 8 and _RELATED.match(text.strip(" »>:")):
            unit.related = True


def _score(unit: Unit) -> float:
    words = unit.words
    if words == 0:
        return -20.0  # a rule (<hr>) or a row of symbols: a section of the page ends
    if unit.boiler or unit.common:
        return -(8 + words)
    if unit.prose:
        return float(words)
    if unit.link_heavy:
        return -(3 + words)
    teaser = unit.text.endswith(("...", "…"))  # a headline's first lines, cut short
    if unit.bullet:
        if words >= 15 and _SENTENCE_END.search(unit.text) and not teaser:
            return words / 2  # a list of sentences inside the article
        return -(3 + words / 2)
    if words >= 4 and re.search(r"[.!?\"”]$", unit.text) and not unit.heading:
        return words / 2
    return -(2 + words / 2)


def _scores(units: Sequence[Unit]) -> list[float]:
    """Unit scores. Nothing crosses the header of a comments section, and what comes after
    it counts a quarter (the article comes before its comments); a related-links header
    costs as much as a short paragraph brings."""
    scores, scale, prose_seen = [], 1.0, 0
    for unit in units:
        if unit.stop and prose_seen >= MIN_BODY_WORDS:
            scores.append(-1e6)
            scale = 0.25
            continue
        if unit.related and prose_seen >= MIN_BODY_WORDS:
            scores.append(-30.0)
            scale = min(scale, 0.5)
            continue
        score = _score(unit)
        if unit.prose:
            prose_seen += unit.words
        scores.append(score * scale if score > 0 else score)
    return scores


def best_segment(scores: Sequence[float]) -> tuple[int, int, float]:
    """[start, end) of the maximum-sum run of scores, and the sum."""
    best = (0, 0, 0.0)
    start, total = 0, 0.0
    for i, score in enumerate(scores):
        if total <= 0:
            start, total = i, 0.0
        total += score
        if total > best[2]:
            best = (start, i + 1, total)
    return best


# -- the cleaner ---------------------------------------------------------------------------------


@dataclass
class Dump:
    """What a text dump holds; `skip` says why it is not an article (None when it is)."""

    title: str = ""
    body: str = ""
    authors: list[str] = field(default_factory=list)
    published: datetime | None = None
    sections: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    clean: bool = False  # the text was a clean article and passed through intact
    skip: str | None = None


def _is_clean(units: list[Unit]) -> bool:
    if not units:
        return False
    rest = units[1:]
    flagged = [
        u
        for u in rest
        if u.boiler
        or u.common
        or u.bullet
        or u.links
        or _TAG_LINE.match(u.text)
        or _BYLINE.match(u.text)
        or _COUNTER.match(u.text)
    ]
    if flagged or units[0].links or units[0].boiler:
        return False
    short = [u for u in rest if not u.prose and u.words < 8]
    return len(short) <= max(1, 0.2 * len(rest))


def clean_dump(
    text: str,
    stats: LineStats | None = None,
    group: str = "",
    vocabulary: Iterable[str] = (),
) -> Dump:
    """The article in a text dump of a page, and its metadata."""
    units = paragraphs(text)
    if not units:
        return Dump(skip="empty file")
    _mark(units, stats, group)
    prose = sum(u.words for u in units if u.prose)
    if sum(u.words for u in units if u.prose and u.common) > 0.5 * prose:
        # most of the text repeats on other pages: a copy of one article, not boilerplate
        for unit in units:
            unit.common = False
    vocab = list(dict.fromkeys([*vocabulary, *(stats.vocabulary() if stats else [])]))
    if _is_clean(units):
        plain = clean_text(text)
        title, _, body = plain.partition("\n")
        if not body.strip():
            title, body = "", title
        return Dump(title=title.strip(), body=body.strip(), clean=True)

    start, end, _total = best_segment(_scores(units))
    start = _after_byline(units, start, end)
    region = units[start:end]
    if sum(u.words for u in region if u.prose) < MIN_BODY_WORDS:
        return Dump(skip="not an article: no main text")
    dump = Dump()
    _read_header(dump, units, start)
    dump.tags = _read_tags(units, start, end, vocab)
    common_share = sum(u.common for u in region) / len(region)
    keep = []
    for unit in region:
        if unit.boiler or unit.caption or (unit.common and common_share < 0.5):
            continue
        if _TAG_LINE.match(unit.text) or _BYLINE.match(unit.text):
            continue
        if unit.text in (dump.title, *dump.authors) and not unit.prose:
            continue
        keep.append(unit.text)
    dump.body = "\n\n".join(keep)
    return dump


def _after_byline(units: list[Unit], start: int, end: int) -> int:
    """Where the body starts: after a byline or date line found in the first quarter of the
    chosen run's prose (what comes above it is the page's header: a standfirst, a
    newsletter prompt, a caption), else at `start`."""
    total = sum(u.words for u in units[start:end] if u.prose)
    seen, cut = 0, start
    for i in range(start, end):
        unit = units[i]
        if seen > 0.25 * total:
            break
        if (_BYLINE.match(unit.text) and unit.words <= 20) or _is_date_line(unit.text):
            cut = i + 1
        if unit.prose:
            seen += unit.words
    rest = sum(u.words for u in units[cut:end] if u.prose)
    return cut if rest >= MIN_BODY_WORDS else start


def _read_header(dump: Dump, units: list[Unit], start: int) -> None:
    """Title, byline, date and sections from the lines above the body."""
    header = units[max(0, start - 40) : start]
    byline_at = None
    for i in range(len(header) - 1, -1, -1):
        match = _BYLINE.match(header[i].text)
        if match and header[i].words <= 20:
            byline_at = i
            dump.authors = _authors(match.group(1))
            break
    anchor = byline_at if byline_at is not None else len(header)
    # date: nearest to the byline, else nearest above the body
    order = sorted(range(len(header)), key=lambda i: (abs(i - anchor), -i))
    for i in order:
        found = find_date(header[i].text)
        if found and (_is_date_line(header[i].text) or i == byline_at):
            dump.published = found[0]
            break
    # sections: an 'in X, Y' line near the byline, else a breadcrumb
    for i in order[:8]:
        match = _SECTION_LINE.match(header[i].text)
        if match and header[i].words <= 12:
            dump.sections = _list_items(match.group(1))
            break
    if not dump.sections:
        for unit in reversed(header):
            crumbs = _breadcrumb(unit)
            if crumbs:
                dump.sections = crumbs
                break
    dump.title = _title(header, byline_at)


# words of menus and account links, never a section of a breadcrumb
_NAV_WORDS = frozenset(
    {"subscribe", "login", "log in", "sign in", "sign up", "register", "account", "my account"}
    | {"newsletter", "newsletters", "contact", "contact us", "about", "about us", "search"}
    | {"menu", "donate", "shop", "e-edition"}
)


def _is_menu(text: str) -> bool:
    """A line of three or more short items split by '|': navigation."""
    items = [i.strip() for i in text.split("|")]
    return len(items) >= 3 and all(0 < len(i.split()) <= 3 for i in items)


def _breadcrumb(unit: Unit) -> list[str]:
    """The sections of a breadcrumb line ('Home > News > Local'), [] for anything else.

    A line of items split by '|' is a navigation menu ('Home | News | Subscribe'), not a
    breadcrumb: menus list siblings, a breadcrumb a path; so are lines of account links.
    """
    text = unit.text
    if unit.words > 10 or "|" in text:
        return []
    match = _BREADCRUMB.match(text) or _CRUMBS.match(text)
    if not match:
        return []
    rest = match.group(1)
    if not re.search(r"\s[>»/›→]\s", rest) and len(rest.split()) > 3:
        return []  # 'Home News Politics Opinion Sport': a flattened menu, not a path
    crumbs = _list_items(re.sub(r"\s+[>»/›→]\s+", ",", rest))
    crumbs = [c for c in crumbs if c.lower() not in ("home", "start")]
    if any(c.lower() in _NAV_WORDS for c in crumbs):
        return []
    return crumbs


def _title(header: list[Unit], byline_at: int | None) -> str:
    def title_like(unit: Unit) -> bool:
        text = unit.text
        words = unit.words
        # common lines stay candidates: a headline also shows in other pages' lists
        if unit.boiler or unit.bullet or not 3 <= words <= 40:
            return False
        if _BYLINE.match(text) or _TAG_LINE.match(text) or _is_date_line(text):
            return False
        if _BREADCRUMB.match(text) or _SECTION_LINE.match(text) or _is_menu(text):
            return False
        return not text.endswith(".") or text.endswith("..")

    if byline_at is not None:
        for i in range(byline_at - 1, max(-1, byline_at - 6), -1):
            if title_like(header[i]):
                return header[i].text
    headings = [u for u in header if u.heading and title_like(u)]
    if headings:
        return headings[-1].text
    candidates = [u for u in header if title_like(u)]
    if not candidates:
        return ""
    # a headline tends to be repeated on its page (page title, share text); else nearest
    repeats = Counter(u.text for u in candidates)
    repeated = [u for u in candidates if repeats[u.text] > 1]
    return (repeated or candidates)[-1].text


def _authors(text: str) -> list[str]:
    found = find_date(text)
    if found:
        text = text[: found[1][0]]
    text = re.split(r"\s+(?:\||-|–|—|on|updated|published)\s+", text, maxsplit=1)[0]
    names = re.split(r"\s*(?:,|&|\band\b)\s*", text)
    return [n.strip(" .,|") for n in names if n.strip(" .,|") and len(n.split()) <= 6]


def _list_items(text: str) -> list[str]:
    return [p.strip(" .") for p in re.split(r"\s*[,;|]\s*", text) if p.strip(" .")]


def _read_tags(units: list[Unit], start: int, end: int, vocabulary: Sequence[str]) -> list[str]:
    """Tags from a 'Tags:' line (or a 'Tags' heading and the short lines under it)."""
    order = list(range(end, len(units))) + list(range(start - 1, -1, -1))
    order += list(range(start, end))
    for i in order:
        unit = units[i]
        match = _TAG_LINE.match(unit.raw) or _TAG_LINE.match(unit.text)
        if match and match.group(1).strip(" " + SEP):
            return split_tags(match.group(1), vocabulary)
        if unit.text.rstrip(":").lower() in ("tags", "topics", "tagged", "related topics"):
            items = []
            for follower in units[i + 1 : i + 16]:
                if follower.words > 6 or follower.prose:
                    break
                items.append(follower.text)
            if items:
                return split_tags(SEP.join(items), vocabulary)
    return []


# -- reader ------------------------------------------------------------------------------------

STATS_KEY = "textdump.stats"
MIN_BATCH = 3  # fewer pages give no cross-document evidence


def _group(path: Path | None, options: ReadOptions) -> str:
    """Pages of one source: the --source name, else the folder they are in."""
    if options.source or path is None:
        return options.source or ""
    return str(path.parent.resolve())


def prepare_text_batch(files: Callable[[], Iterator[Path]], options: ReadOptions) -> None:
    """First pass: count lines across the batch's pages, per source, in fixed memory.

    `files` gives the text files of the batch afresh on each call: they are walked twice
    (to count them, then to read them), never held in a list.
    """
    if STATS_KEY in options.context:
        return
    total = sum(1 for _ in files())
    if total < MIN_BATCH:
        return
    stats = LineStats()
    progress = options.context.get("progress")
    for done, file in enumerate(files()):
        if progress is not None:
            progress("scan text dumps", done, total)
        try:
            text = _read_dump(file, options)
        except (InputError, OSError, EOFError, ValueError):
            continue  # the reading pass reports it
        stats.add_document(_group(file, options), text)
    options.context[STATS_KEY] = stats
    if progress is not None:
        progress("scan text dumps", total, total)


register_preparer("text", prepare_text_batch)


def _decode(data: bytes) -> str:
    try:
        return decode_bytes(data)[0]
    except UndecodableError as exc:
        raise InputError(str(exc)) from exc


def _read_dump(path: Path, options: ReadOptions) -> str:
    source = open_path(path, options)
    try:
        return _decode(read_document(source))
    finally:
        close_source(source)


@register_stream("text")
def read_text_dump(source: Source, report: ReadReport, options: ReadOptions) -> Iterator[Article]:
    """A text file: a scraped dump of a page (cleaned), or one clean article (kept intact)."""
    text = _decode(read_document(source))
    report.records += 1
    name = source.name
    if not text.strip():
        report.skip(name, "empty body: the file has no text")
        return
    stats = options.context.get(STATS_KEY)
    dump = clean_dump(text, stats, _group(source.path, options), options.tag_vocabulary)
    if dump.skip:
        report.skip(name, dump.skip)
        return
    path = source.path
    stem = (path.name.split(".")[0] or path.name) if path is not None else ""
    meta: dict[str, object] = {"path": str(path)} if path is not None else {}
    if dump.sections:
        meta["sections"] = dump.sections
    if not dump.clean:
        meta["cleaned"] = True
    article = Article(
        id=stem or content_id(dump.title, dump.body),
        title=dump.title,
        body=dump.body,
        section=dump.sections[0] if dump.sections else None,
        tags=dump.tags,
        published=dump.published,
        authors=dump.authors,
        source=options.source,
        meta=meta,
    )
    finished = finish(article, name, report, options, None)
    if finished is not None:
        yield finished
