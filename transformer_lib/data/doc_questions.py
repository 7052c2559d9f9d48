"""Python's own documentation as a small retrieval set, with labelled questions and summaries.

Python ships part of its documentation: ``pydoc_data.topics.topics`` maps a topic key such as
``"break"`` to the text ``help("break")`` prints. ``search_topics`` keeps one passage per topic
(its title and the first ``max_words`` words of its prose), ``topic_sentences`` cuts a topic into
sentences. The labels below were written by hand, before any model was run on them:

- ``QUESTIONS``: a question, the topics that answer it, and a distinctive piece of each sentence
  of those topics that answers it (answer-*sentence* selection, not span extraction);
- ``REFERENCE_SUMMARIES``: per topic, the sentences a reader needs to use the statement, by the
  rule of ``SUMMARY_RULE``.

Sentences are found by substring, so small wording changes between Python versions are caught by
``find_sentences`` (a label that matches no sentence raises ``ValueError``).

See: notebooks/12_pretrained_encoder.ipynb
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_UNDERLINE = re.compile(r"^[=*\-~^]+$")
_VERSION_NOTE = re.compile(r"(Changed|New|Added|Deprecated) in version")


def _topics() -> dict[str, str]:
    from pydoc_data.topics import topics

    return topics


def topic_prose(key: str) -> tuple[str, list[str]]:
    """The title of a documentation topic and its prose paragraphs (indented blocks, grammar
    rules and code examples, left out)."""
    topics = _topics()
    if key not in topics:
        raise ValueError(f"key={key!r} is not a topic of pydoc_data.topics")
    title, _, body = topics[key].strip().split("\n", 2)  # line 2 underlines the title
    paragraphs = []
    for block in re.split(r"\n\s*\n", body.lstrip("\n")):
        if not block.strip() or block[0].isspace():  # empty, or indented: grammar or code
            continue
        block = re.sub(r"(?<=\w)-\n(?=\w)", "-", block)  # "built-\nin" -> "built-in"
        lines = [line for line in block.split("\n") if not _UNDERLINE.match(line.strip())]
        paragraphs.append(" ".join(" ".join(lines).split()))
    return title.strip(), [p for p in paragraphs if p]


def split_sentences(paragraphs: list[str], min_words: int = 4) -> list[str]:
    """The sentences of some paragraphs, less version notes and the lead-ins (ending with ':')
    of the code examples that ``topic_prose`` left out."""
    sentences = []
    for paragraph in paragraphs:
        for sentence in re.split(r"(?<=[.!?:])\s+(?=[A-Z\"*“])", paragraph):
            if (len(sentence.split()) >= min_words and not sentence.endswith(":")
                    and not _VERSION_NOTE.match(sentence)):
                sentences.append(sentence)
    return sentences


def topic_sentences(key: str, max_sentences: int | None = None) -> list[str]:
    """The sentences of a topic's prose, in document order (the first ``max_sentences``)."""
    return split_sentences(topic_prose(key)[1])[:max_sentences]


def _opening(text: str) -> str:
    return text.strip().split("\n", 2)[-1][:300]


def search_topics(max_words: int = 60) -> tuple[list[str], list[str]]:
    """(keys, passages): one passage per topic, ``"<title>: <first max_words words>"``.

    Left out: collections (topics that contain the opening of three or more other topics, such
    as ``"compound"``, which would compete with their own parts) and all but the first key of a
    duplicated text."""
    topics = _topics()
    openings = {key: _opening(text) for key, text in topics.items()}
    collections = {a for a in topics
                   if sum(openings[b] in topics[a] for b in topics if b != a) >= 3}
    duplicates = {b for a in topics for b in topics if a < b and topics[a] == topics[b]}
    keys, passages = [], []
    for key in sorted(set(topics) - collections - duplicates):
        title, paragraphs = topic_prose(key)
        words = " ".join(paragraphs).split()[:max_words]
        if words:
            keys.append(key)
            passages.append(f"{title}: {' '.join(words)}")  # the title names the topic
    return keys, passages


def find_sentences(sentences: list[str], pieces: tuple[str, ...]) -> set[int]:
    """Indices of the sentences that contain one of ``pieces``; ValueError if a piece matches
    none (the documentation changed)."""
    found = set()
    for piece in pieces:
        hits = {i for i, sentence in enumerate(sentences) if piece in sentence}
        if not hits:
            raise ValueError(f"no sentence contains {piece!r}: has the documentation changed?")
        found |= hits
    return found


@dataclass(frozen=True)
class Question:
    """A question, the topics that answer it, and pieces of the sentences that answer it."""

    text: str
    topics: tuple[str, ...]
    answers: tuple[str, ...]  # each a substring of one answering sentence of topics[0]


def _q(text: str, topics: str, *answers: str) -> Question:
    return Question(text, tuple(topics.split()), answers)


# Each question: the topics that answer it, then pieces of its answer sentences (none where the
# topic's prose has no sentence that answers it). Written before any model was run on them.
QUESTIONS: tuple[Question, ...] = (
    _q("How do I leave a loop early, before it has finished?", "break",
       "It terminates the nearest enclosing loop"),
    _q("How do I skip to the next iteration of a loop?", "continue",
       "It continues with the next cycle"),
    _q("How do I catch an exception and handle it?", "try",
       'clause(s) specify one or more exception handlers', 'When a matching "except" clause'),
    _q("How do I signal an error from my own code?", "raise",
       '"raise" evaluates the first expression as the exception object'),
    _q("How do I write a small anonymous function in one expression?", "lambda",
       "used to create anonymous functions", "yields a function object"),
    _q("How do I load a module so that I can use its functions?", "import",
       "find a module, loading and initializing it"),
    _q("How do I make sure a resource is cleaned up when a block of code ends?",
       "with context-managers", "wrap the execution of a block",
       "usage patterns to be encapsulated", "closing opened files"),
    _q("How do I check that a condition holds while debugging?", "assert",
       'The simple form, "assert expression"'),
    _q("How can a function assign to a variable defined at module level?", "global",
       "interpreted as globals", "impossible to assign to a global variable without"),
    _q("How can a nested function rebind a variable of the enclosing function?", "nonlocal",
       "refer to previously bound variables in the nearest enclosing scope",
       "allows encapsulated code to rebind variables"),
    _q("What do I write when a statement is required but nothing should happen?", "pass",
       "is a null operation"),
    _q("How does a generator function produce its values one at a time?", "yield",
       "sufficient to cause that definition to create a generator function"),
    _q("How do I delete a variable or an item of a list?", "del",
       "Deletion of a name removes the binding",
       "Deletion of attribute references, subscriptions and slicings"),
    _q("How do I put values into a string with replacement fields in braces?", "formatstrings",
       "surrounded by curly braces"),
    _q("How do I look up the value stored under a key in a dictionary?", "typesmapping dict"),
    _q("Which values are considered false in a condition?", "truth", '"0j"', '"set()"'),
    _q("How do I step through my program line by line to find a bug?", "debugger",
       "single stepping at the source line level", "step through the code following"),
    _q("How do I write a number with an exponent such as 1e-3?", "floating",
       "integer and exponent parts are always interpreted"),
    _q("Which operators bind more tightly than others?", "operator-summary",
       "summarizes the operator precedence"),
    _q("How do I write a complex number with an imaginary part?", "imaginary",
       "An imaginary literal yields a complex number",
       "To create a complex number with a nonzero real part"),
    _q("How do I repeat a block of code as long as a condition is true?", "while",
       "This repeatedly tests the expression"),
    _q("How do I convert a string to upper case?", "string-methods"),
    _q("How do I wait for the result of a coroutine?", "await async",
       "Suspend the execution of *coroutine*"),
    _q("How do I test whether an item is contained in a list?", "in comparisons",
       "test for membership", "if *x* is a member of *s*"),
    _q("How do I send a value back from a function to its caller?", "return",
       "leaves the current function call with the expression list"),
    _q("How do I run the same code once for every item of a list?", "for",
       "This repeats for each item provided by the iterator",
       "The first item provided by the iterator is then assigned"),
    _q("How do I create my own type of object with attributes and methods?", "class",
       "A class object is then created"),
    _q("How do I give a parameter a default value?", "function", "default parameter values"),
    _q("How do I raise a number to a power?", "power",
       "raised to the power of its right argument"),
    _q("How do I run code only when none of the conditions is true?", "else",
       'If all expressions are false, the suite of the "else" clause'),
    _q("What happens to an error that no code handles?", "exceptions",
       "When an exception is not handled at all"),
    _q("How do I write a long number so that its digits are easier to read?", "integers",
       "used to group digits for enhanced readability"),
    _q("How do I build a new list from the items of another one in one expression?", "lists",
       "When a comprehension is supplied"),
    _q("How do I give the same value to several variables in one statement?", "assignment",
       "assigns the single resulting object to each of the target lists"),
    _q("What happens if I pass the same argument twice, by position and by keyword?", "calls",
       "If the slot is already filled"),
    _q("Are all comparison operators of the same priority?", "comparisons",
       "all comparison operations in Python have the same priority"),
)

SUMMARY_RULE = (
    "From the first 20 sentences of a topic, the two or three a reader needs in order to use the "
    "statement or operator: what it does, how it does it, and the one rule that most often "
    "matters when using it; chosen by reading the sentences alone, before any model was run.")
# topic -> pieces of its reference sentences (one piece, one sentence), by SUMMARY_RULE
REFERENCE_SUMMARIES: dict[str, tuple[str, ...]] = {
    "raise": ("If no expressions are present", '"raise" evaluates the first expression',
              'clause is used for exception chaining'),
    "with": ("is used to wrap the execution of a block", "usage patterns to be encapsulated",
             '"__exit__()" method is invoked'),
    "class": ("A class object is then created", "The class name is bound to this class object",
              "Variables defined in the class definition are class attributes"),
    "global": ("interpreted as globals", "impossible to assign to a global variable without",
               "must not be used in the same code block textually preceding"),
    "for": ("The first item provided by the iterator is then assigned",
            "This repeats for each item", "When the iterator is exhausted"),
    "return": ("may only occur syntactically nested in a function definition",
               "If an expression list is present", "leaves the current function call"),
    "assert": ('The simple form, "assert expression"', 'The extended form',
               "emits no code for an assert statement"),
    "exceptions": ("Exceptions are a means of breaking out",
                   "An exception is *raised* at the point", "Exception handlers are specified"),
    "yield": ("are only used when defining a *generator* function",
              "sufficient to cause that definition to create a generator function"),
    "del": ("Deletion of a target list recursively deletes", "Deletion of a name removes",
            "Deletion of attribute references"),
    "nonlocal": ("causes the listed identifiers to refer to previously bound variables",
                 "must refer to pre-existing bindings"),
    "power": ("binds more tightly than unary operators on its left",
              "has the same semantics as the built-in", "For int operands"),
    "in": ('The operators "in" and "not in" test for membership', "if *x* is a member of *s*",
           "All built-in sequences and set types support this"),
    "try": ("clause(s) specify one or more exception handlers",
            'When an exception occurs in the "try" suite', 'When a matching "except" clause'),
}
SUMMARY_SENTENCES = 20  # a topic's document: its first 20 sentences
