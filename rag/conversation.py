"""Follow-up questions: "When did he visit Tokyo?" after a question about Ahn Gyu-back.

A follow-up is read with the previous turn's subject written in for its pronoun, and that rewritten
question is what retrieval and the reader see; the answer says how the question was taken
(``Answer.interpreted_as``). This is a rule, not a language model: it resolves he/she/him/her/his
to the name that answered a "Who…" or "Which…" question (else the first name in it), they/them/
their to the names in the previous question, and "there" to the place that answered a "Where…"
question. Anything else is asked as written.

Only a question that cannot stand on its own is rewritten: a pronoun whose antecedent is in the
question itself ("Which prime minister announced *his* resignation?", "Who said *they* would
meet?", "Did the ministers sign *their* pact in Seoul?") leaves the question as typed.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

from rag.pipeline import Pipeline
from rag.questions import check_question
from rag.types import Answer

# A name: capitalised words, hyphenated parts allowed ("Ahn Gyu-back", "Gen Nakatani", "Seoul").
_NAME = re.compile(r"\b[A-Z][\w’'-]*(?:\s+[A-Z][\w’'-]*)*")
# Capitalised words that are not what a pronoun refers back to.
_NOT_NAMES = frozenset(
    ["Who", "What", "When", "Where", "Which", "Why", "How", "Did", "Does", "Do", "Is", "Are", "Was", "Were", "Has",
    "Have", "Had", "Can", "Could", "Will", "Would", "In", "On", "At", "For", "From", "To", "Of", "The", "A", "An",
    "And", "But", "Or", "If", "After", "Before", "During", "Since", "Japanese", "Korean", "South", "North", "American",
    "Chinese", "Russian", "U.S.", "US", "Minister", "Ministers", "Defense", "Foreign", "Prime", "President", "Leader",
    "Chief", "Official", "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
)
_SINGULAR = r"he|she|him|her|his|hers"
_PLURAL = r"they|them|their|theirs"
_PRONOUN = re.compile(rf"\b({_SINGULAR}|{_PLURAL}|there)\b", re.IGNORECASE)
# What a he/she/his in the same question can refer to: a person word before it ("Which Japanese
# prime minister announced his resignation?"), or who/whose/whom.
_PERSON_WORD = re.compile(
    r"\b(who|whose|minister|premier|president|leader|chief|official|officer|secretary|spokes(?:man|woman|person)|"
    r"ambassador|envoy|diplomat|general|commander|admiral|king|queen|emperor|prince|princess|chancellor|governor|"
    r"mayor|senator|lawmaker|author|writer|founder|ceo|chairman|chairwoman|chair|director|manager|head|user|person|"
    r"man|woman|boy|girl|player|coach|actor|actress|singer|scientist|counterpart|soldier|sailor|member|candidate|"
    r"student|teacher|maintainer|developer|father|mother|son|daughter|husband|wife|owner|lawyer|judge|doctor)s?\b",
    re.IGNORECASE,
)
# What a they/them/their in the same question can refer to: a plural word before it ("the
# ministers", "both countries", "the two sides"), who/which, or two names.
_PLURAL_WORDS = frozenset(["who", "which", "both", "people", "children", "men", "women", "police"])
_NOT_PLURAL = frozenset(["does", "goes", "has", "was", "is", "this", "thus", "its", "his", "hers", "yes", "always",
"perhaps", "across", "less", "unless", "news", "series", "species", "whereas", "various", "previous", "famous",
"serious", "process", "address", "analysis", "basis", "status"])
# What a "there" in the same question can refer to: a place named after a preposition ("in Seoul").
_PLACE = re.compile(r"\b(in|at|to|from|near|inside|outside|visit|visited|visiting)\s+(the\s+)?[A-Z]")


@dataclass(frozen=True, slots=True)
class Turn:
    question: str  # as asked
    interpreted: str  # as answered
    answer: Answer


class Conversation:
    """Questions in sequence over one pipeline, each able to refer back to the one before.

    Example:
        >>> chat = Conversation(Pipeline.from_folder("seeds"))
        >>> chat.ask("Which Japanese prime minister announced his resignation?")
        >>> chat.ask("On which day did he resign?").interpreted_as
        'On which day did Shigeru Ishiba resign?'
    """

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.turns: list[Turn] = []

    def ask(self, question: str, k: int | None = None, **settings: Any) -> Answer:
        """Answer ``question`` in the context of the previous turn (settings as for Pipeline.ask)."""
        check_question(question)  # as typed: a refusal counts what the user wrote, not a rewrite of it
        previous = self.turns[-1] if self.turns else None
        interpreted = resolve_follow_up(question, previous) if previous else question
        answer = self.pipeline.ask(interpreted, k, **settings)
        if interpreted != question.strip():
            answer = dataclasses.replace(answer, question=question, interpreted_as=interpreted)
        self.turns.append(Turn(question, interpreted, answer))
        return answer

    def reset(self) -> None:
        self.turns.clear()


def resolve_follow_up(question: str, previous: Turn) -> str:
    """The question with its pronouns replaced by what the previous turn was about; unchanged when it
    stands on its own (no pronoun, or each pronoun's antecedent is in the question itself)."""
    if stands_alone(question):
        return question.strip()
    names = _names(previous.interpreted)
    answered = previous.answer.text or ""
    asked = previous.interpreted.strip().lower()
    # "Who…?" and "Which…?" questions answered with a name are about that person.
    named = bool(answered) and answered[:1].isupper() and asked.startswith(("who", "which"))
    person = answered if named else (names[0] if names else None)
    place = answered if answered and asked.startswith("where") else None

    def replace(match: re.Match[str]) -> str:
        word = match.group(1)
        lower = word.lower()
        if lower == "there":
            return f"in {place}" if place else word
        if re.fullmatch(_SINGULAR, lower):
            target = person
        else:
            target = " and ".join(names) if names else None
        if target is None:
            return word
        return f"{target}'s" if lower in ("his", "their", "theirs", "hers") else target

    resolved = _PRONOUN.sub(replace, question.strip())
    return resolved


def stands_alone(question: str) -> bool:
    """Whether every he/she/they/there of the question refers to something the question itself names."""
    for match in _PRONOUN.finditer(question):
        before = question[: match.start()]
        word = match.group(1).lower()
        if word == "there":
            referred = bool(_PLACE.search(before))
        elif re.fullmatch(_SINGULAR, word):
            # A name before it (not the capitalised first word of the question) or a person word.
            referred = bool(_PERSON_WORD.search(before) or _names(before[1:]))
        else:
            referred = _has_plural(before) or len(_names(before[1:])) >= 2
        if not referred:
            return False
    return True


def _has_plural(text: str) -> bool:
    words = re.findall(r"[a-z]+", text.lower())
    return any(w in _PLURAL_WORDS or (len(w) >= 4 and w.endswith("s") and not w.endswith(("ss", "us", "is"))
                                      and w not in _NOT_PLURAL) for w in words)


def _names(question: str) -> list[str]:
    names = []
    for match in _NAME.finditer(question):
        words = [w for w in match.group().split() if w not in _NOT_NAMES]
        # Drop leading words that are not names ("Did Ahn Gyu-back" -> "Ahn Gyu-back").
        name = " ".join(words).strip()
        # "in Tokyo", "at Yongsan": a place, which they/them do not stand for.
        if re.search(r"\b(in|at|from|near)\s+$", question[: match.start()]):
            continue
        if name and name not in names:
            names.append(name)
    return names
