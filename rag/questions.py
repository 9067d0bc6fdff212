"""What a question may be: text, not empty, not too long, read with at most so many passages."""

from __future__ import annotations

import re

from rag.errors import ConfigError, QuestionError

MAX_QUESTION_CHARS = 2000
# The most passages one question may read: every request waits for the one before it, so a
# top_k of 10**9 (reading every passage) must not be possible through the API.
MAX_TOP_K = 50

# Control characters, and lone surrogates (bytes that were not UTF-8 in a terminal argument, or a
# half of a pair through the API), carry no meaning and break encoders downstream: read as spaces.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def check_question(question: str) -> str:
    """The question as rag reads it (control characters as spaces, whitespace collapsed).

    Raises:
        QuestionError: It is not text, is empty, or is over MAX_QUESTION_CHARS.
    """
    if not isinstance(question, str):
        raise QuestionError(f"a question must be text, not {type(question).__name__}")
    typed = question.strip()
    question = " ".join(_CONTROL.sub(" ", question).split())
    if not question:
        raise QuestionError("the question is empty; ask something, e.g. rag ask \"Where did the ministers meet?\"")
    if len(question) > MAX_QUESTION_CHARS:  # counted as typed: the limit is on what rag reads
        raise QuestionError(f"the question is {len(typed):,} characters long; keep it to {MAX_QUESTION_CHARS:,} or fewer")
    return question


def check_top_k(k: object) -> int:
    """``k`` if it is a whole number from 1 to MAX_TOP_K.

    Raises:
        ConfigError: It is not, with the bounds in the message.
    """
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_TOP_K:
        raise ConfigError(f"top-k must be a whole number from 1 to {MAX_TOP_K}, not {k!r}")
    return k
