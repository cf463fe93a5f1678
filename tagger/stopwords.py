"""English function words: what evidence shown to editors must not consist of.

A closed-class list (articles, pronouns, prepositions, conjunctions, auxiliaries, modals and
a few adverbs of degree and time), not an information-retrieval stop list: those (such as
the Glasgow list behind scikit-learn's) also hold news words like "interest", "bill",
"fire" or "system" that are real evidence for a tag.
"""

from __future__ import annotations

from functools import lru_cache

_WORDS = (
    "a about above across after afterwards again against ago all almost along already also "
    "although always am among amongst an and another any anybody anyone anything anyway "
    "anywhere are aren around as at be became because become becomes been before beforehand "
    "behind being below beside besides between beyond both but by can cannot could couldn did "
    "didn do does doesn doing don done down during each either else elsewhere enough etc even "
    "ever every everybody everyone everything everywhere except few for former formerly from "
    "further furthermore had hadn has hasn have haven having he hence her here hereafter "
    "hereby herein hers herself him himself his how however i if in indeed inside instead "
    "into is isn it its itself just least less let like ll many may me meanwhile might mine "
    "more moreover most mostly much must my myself neither never nevertheless no nobody none "
    "noone nor not nothing now nowhere of off often on once one ones only onto or other "
    "others otherwise ought our ours ourselves out outside over own per perhaps quite rather "
    "re really s same shall she should shouldn since so some somebody someone something "
    "sometime sometimes somewhat somewhere still such than that the their theirs them "
    "themselves then thence there thereafter thereby therefore therein thereupon these they "
    "this those though through throughout thru thus till to together too toward towards under "
    "underneath unless unlike until up upon us ve very via was wasn we were weren what "
    "whatever when whence whenever where whereafter whereas whereby wherein whereupon "
    "wherever whether which while whither who whoever whole whom whose why will with within "
    "without won would wouldn yet you your yours yourself yourselves "
)
FUNCTION_WORDS = frozenset(_WORDS.split())


@lru_cache(maxsize=1 << 16)  # evidence asks about the same few thousand terms again and again
def is_content_term(term: str) -> bool:
    """True when a feature name (a word or an n-gram of words) has a word that is not a
    function word: "it" and "it is" are not content terms, "rise in" is."""
    return any(word not in FUNCTION_WORDS for word in term.split())
