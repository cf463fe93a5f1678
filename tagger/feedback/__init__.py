"""Editors in the loop: the feedback store, review, export, stats and learning."""

from tagger.feedback.store import (
    Decision,
    FeedbackStore,
    ShownSuggestion,
    SQLiteStore,
    open_store,
    resolve,
    shown_from_suggestions,
)

__all__ = [
    "Decision",
    "FeedbackStore",
    "SQLiteStore",
    "ShownSuggestion",
    "open_store",
    "resolve",
    "shown_from_suggestions",
]
