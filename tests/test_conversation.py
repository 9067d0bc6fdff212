"""Follow-up questions: a question that stands on its own is asked as typed, whatever came before;
one that cannot is rewritten with the previous turn's subject."""

from __future__ import annotations

import pytest

from rag import Pipeline
from rag.conversation import Conversation, Turn, resolve_follow_up, stands_alone
from rag.types import Answer

# Previous turns of every kind: a person answered, a place answered, names in the question, a decline.
PREVIOUS = [
    ("Who is South Korea's defense minister?", "Gen Nakatani"),
    ("Where did Ahn Gyu-back and Gen Nakatani meet?", "Seoul"),
    ("What did Ahn Gyu-back and Koizumi Shinjiro agree to hold every year?", "annual mutual visits"),
    ("Who won the 2031 chess olympiad?", None),
]

# Each names its own subject; several hold a pronoun whose antecedent is in the question itself.
STANDALONE = [
    "Which Japanese prime minister announced his resignation?",
    "Which Japanese prime minister announced his resignation a day before?",
    "Who announced his resignation on Sunday?",
    "Which defense minister said he would visit Tokyo?",
    "Did the ministers sign their agreement in Seoul?",
    "What did Ahn Gyu-back and Koizumi Shinjiro agree at their meeting?",
    "Who said they would strengthen security cooperation?",
    "Which countries normalized their diplomatic relations in 1965?",
    "Why did the prime minister announce his resignation?",
    "What did the two defense ministers discuss at their talks?",
    "Where did Ahn Gyu-back and Gen Nakatani meet?",
    "How many sailors were killed in the sinking of the Cheonan?",
    "In what year was the Cheonan warship sunk?",
    "What sank the Cheonan warship?",
    "When did Ahn Gyu-back take up his post as defense minister?",
    "Which cemetery is Nakatani scheduled to visit during his stay in Seoul?",
    "Who is Japan's current defense minister?",
    "Where did the leaders of South Korea and Japan hold their bilateral summit?",
    "Which anniversary of the normalization of diplomatic relations do the countries mark this year?",
    "In which district is the Defense Ministry headquarters?",
    "What did Nakatani do when he visited Seoul?",
    "Which minister visited Seoul and what did he sign there?",
    "When did the Japanese defense minister last visit South Korea, and what did he discuss there?",
    "What does grep do with its input?",
    "Which option makes tar keep the permissions of the files in its archive?",
    "Who maintains the package, and where can users report their bugs?",
    "Which exit status does grep return when no line was selected?",
    "How many people died when the warship sank?",
    "What is the capital of France?",
    "Who won the 2031 chess olympiad?",
    "Did the officials say when they would meet again?",
    "Where did Koizumi Shinjiro meet Ahn Gyu-back in January?",
]

# Each refers back to the previous turn: (previous question, its answer, follow-up, as it is asked).
FOLLOW_UPS = [
    ("What post does Ahn Gyu-back hold?", None, "When did he visit Tokyo?", "When did Ahn Gyu-back visit Tokyo?"),
    ("Who visited Seoul in September?", "Koizumi", "What is his title?", "What is Koizumi's title?"),
    ("Which Japanese prime minister resigned?", "Shigeru Ishiba", "When did he resign?", "When did Shigeru Ishiba resign?"),
    ("Which Japanese prime minister announced his resignation?", "Shigeru Ishiba", "On which day did he resign?",
     "On which day did Shigeru Ishiba resign?"),
    ("Where did Ahn Gyu-back and Gen Nakatani meet?", "Seoul", "When did they meet there?",
     "When did Ahn Gyu-back and Gen Nakatani meet in Seoul?"),
    ("Where did Ahn Gyu-back and Gen Nakatani meet?", "Seoul", "What did they agree?",
     "What did Ahn Gyu-back and Gen Nakatani agree?"),
    ("Where did Ahn Gyu-back and Gen Nakatani meet?", "Seoul", "Which cemetery is there?", "Which cemetery is in Seoul?"),
    ("Who is South Korea's defense minister?", "Ahn Gyu-back", "When did he take office?", "When did Ahn Gyu-back take office?"),
    ("Who is South Korea's defense minister?", "Ahn Gyu-back", "Whom did he meet in Seoul?", "Whom did Ahn Gyu-back meet in Seoul?"),
    ("Who is Japan's current defense minister?", "Koizumi Shinjiro", "Where did he meet Ahn Gyu-back?",
     "Where did Koizumi Shinjiro meet Ahn Gyu-back?"),
    ("Who is Japan's current defense minister?", "Koizumi Shinjiro", "What did she announce?",
     "What did Koizumi Shinjiro announce?"),
    ("Who is Japan's current defense minister?", "Koizumi Shinjiro", "What is his predecessor's name?",
     "What is Koizumi Shinjiro's predecessor's name?"),
    ("Did Lee Jae-myung meet Shigeru Ishiba in Tokyo?", "yes", "What did they discuss?",
     "What did Lee Jae-myung and Shigeru Ishiba discuss?"),
    ("Did Lee Jae-myung meet Shigeru Ishiba in Tokyo?", "yes", "When did they last meet?",
     "When did Lee Jae-myung and Shigeru Ishiba last meet?"),
    ("What did Ahn Gyu-back and Koizumi Shinjiro agree to hold every year?", "annual mutual visits",
     "Where did they meet?", "Where did Ahn Gyu-back and Koizumi Shinjiro meet?"),
    ("Where did the leaders hold their summit?", "Tokyo", "Who hosted it there?", "Who hosted it in Tokyo?"),
    ("Who visited Seoul in September?", "Gen Nakatani", "Why did he go?", "Why did Gen Nakatani go?"),
]


def _turn(question: str, answer: str | None) -> Turn:
    return Turn(question, question, Answer(question, answer, (), 0.9 if answer else 0.1))


@pytest.mark.parametrize("question", STANDALONE)
def test_a_question_that_stands_alone_is_never_rewritten(question: str) -> None:
    assert len(STANDALONE) >= 30
    assert stands_alone(question)
    for previous, answer in PREVIOUS:
        assert resolve_follow_up(question, _turn(previous, answer)) == question


@pytest.mark.parametrize(("previous", "answer", "follow_up", "expected"), FOLLOW_UPS)
def test_a_real_follow_up_is_resolved(previous: str, answer: str | None, follow_up: str, expected: str) -> None:
    assert len(FOLLOW_UPS) >= 15
    assert not stands_alone(follow_up)
    assert resolve_follow_up(follow_up, _turn(previous, answer)) == expected


def test_a_follow_up_with_no_one_to_refer_to_is_asked_as_written() -> None:
    assert resolve_follow_up("What did he say?", _turn("How many sailors died?", "46")) == "What did he say?"


def test_conversation_asks_a_standalone_question_as_typed(seeds_pipeline: Pipeline) -> None:
    """The case from issue 29: after a question about a person, a question naming its own subject
    was taken as "… announced Gen Nakatani's resignation?"."""
    chat = Conversation(seeds_pipeline)
    chat.ask("Who is South Korea's defense minister?")
    answer = chat.ask("Which Japanese prime minister announced his resignation?")
    assert answer.interpreted_as is None and answer.question == "Which Japanese prime minister announced his resignation?"
    assert answer.text == seeds_pipeline.ask("Which Japanese prime minister announced his resignation?").text
    follow_up = chat.ask("On which day did he resign?")
    assert follow_up.interpreted_as == f"On which day did {answer.text} resign?"


def test_a_question_too_long_is_refused_counting_what_was_typed(seeds_pipeline: Pipeline) -> None:
    """A follow-up is rewritten with the previous turn's subject; the length a refusal counts is still
    the typed one (it said 5,148 for 5,000 typed characters)."""
    from rag.errors import QuestionError

    chat = Conversation(seeds_pipeline)
    chat.ask("Where did Ahn Gyu-back and Gen Nakatani meet?")
    typed = "Where did they sign it? " + "x" * 4976
    assert len(typed) == 5000 and resolve_follow_up(typed, chat.turns[-1]) != typed  # it would be rewritten
    with pytest.raises(QuestionError, match=r"the question is 5,000 characters long; keep it to 2,000 or fewer"):
        chat.ask(typed)
    assert len(chat.turns) == 1  # the refused question is no turn to follow up on
