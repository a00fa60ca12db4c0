"""CoNLL column files for sequence labelling, and the three entity tag schemes.

A CoNLL file has one token per line, whitespace-separated columns (``word POS chunk NER`` in CoNLL-2003),
a blank line between sentences and ``-DOCSTART-`` lines between documents (skipped). The word is column 0;
the tag is the last column unless ``tag_column`` says another (0-based; negative counts from the end).
Words keep their case (a casing feature or a lowercased lookup is the model's business, see :func:`casing`).

Tag schemes (an entity of type X spanning tokens i..j):

- **IOB1** (the original CoNLL-2003 files): every token ``I-X``; ``B-X`` only on the first token of an entity
  that directly follows another entity of the same type.
- **IOB2** (BIO, the shared copy in ``../shared/data/conll2003``): ``B-X`` on the first token, ``I-X`` after.
- **BIOES** (IOBES): ``S-X`` for a one-token entity, else ``B-X``, ``I-X``..., ``E-X`` on the last token.

One rule decides validity in all three: a sequence is valid when every transition ``prev -> tag`` (with
``<start>`` before the first token and ``<end>`` after the last) is allowed by :func:`transition_allowed`;
the CRF's constraints use the same function. An invalid sequence is either **refused** (a
:class:`~dl4nlp.core.errors.DataError` naming ``file:line`` and the tag) or **repaired**: its entities are read
the way the ``conlleval`` script reads them (an ``I-X`` after ``O`` or after another type starts an entity,
an entity ends where the next starts or at ``O``; :func:`entity_spans`) and written back in the target
scheme, so e.g. IOB2 ``O I-PER I-PER`` becomes ``O B-PER I-PER``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dl4nlp.core.errors import DataError
from dl4nlp.core.io import require_file, text_lines

SCHEMES = ("iob1", "iob2", "bioes")
PREFIXES = {"iob1": "BI", "iob2": "BI", "bioes": "BIES"}


@dataclass
class TaggedSentence:
    """Tokens (case kept), their tags, and the file line of each token (for error messages)."""

    tokens: list[str]
    tags: list[str]
    lines: list[int] = field(default_factory=list)


def read_conll(path: str | Path, tag_column: int = -1) -> list[TaggedSentence]:
    """The sentences of a CoNLL file; ``DataError`` naming ``file:line`` for a line without the tag column,
    a sentence whose lines have different column counts, or a tag that is neither ``O`` nor ``P-TYPE``."""
    path = require_file(path, DataError, "CoNLL file")
    sentences: list[TaggedSentence] = []
    current = TaggedSentence([], [], [])
    width = 0
    for line_no, raw in enumerate(text_lines(path), 1):
        cols = raw.split()
        if not cols or cols[0] == "-DOCSTART-":
            if current.tokens:
                sentences.append(current)
            current, width = TaggedSentence([], [], []), 0
            continue
        if len(cols) < 2 or not -len(cols) <= tag_column < len(cols) or tag_column in (0, -len(cols)):
            raise DataError(f"{path}:{line_no}: expected a word and a tag in column {tag_column}, "
                            f"got {len(cols)} column(s): {raw.strip()!r}")
        if width and len(cols) != width:
            raise DataError(f"{path}:{line_no}: {len(cols)} columns where the sentence's earlier lines have {width}")
        width = len(cols)
        tag = cols[tag_column]
        if split_tag(tag) is None:
            raise DataError(f"{path}:{line_no}: '{tag}' is not a tag (O, or a prefix B/I/E/S, '-' and a type)")
        current.tokens.append(cols[0])
        current.tags.append(tag)
        current.lines.append(line_no)
    if current.tokens:
        sentences.append(current)
    if not sentences:
        raise DataError(f"{path}: no sentences (an empty CoNLL file?)")
    return sentences


def split_tag(tag: str) -> tuple[str, str | None] | None:
    """``("O", None)``, ``("B", "PER")``..., or None when ``tag`` is malformed."""
    if tag == "O":
        return "O", None
    prefix, sep, kind = tag.partition("-")
    if sep and prefix in ("B", "I", "E", "S") and kind:
        return prefix, kind
    return None


def transition_allowed(prev: str | None, tag: str | None, scheme: str) -> bool:
    """May ``tag`` follow ``prev`` in ``scheme``? ``prev`` None is the sentence start, ``tag`` None its end."""
    if scheme not in SCHEMES:
        raise DataError(f"unknown tag scheme '{scheme}' (use {', '.join(SCHEMES)})")
    p, pk = split_tag(prev) if prev is not None else ("<start>", None)
    t, tk = split_tag(tag) if tag is not None else ("<end>", None)
    if p not in (*PREFIXES[scheme], "O", "<start>") or t not in (*PREFIXES[scheme], "O", "<end>"):
        return False
    if scheme == "iob1":  # B-X only right after an X token
        return t != "B" or (p in ("B", "I") and pk == tk)
    if scheme == "iob2":  # I-X only inside an X entity
        return t != "I" or (p in ("B", "I") and pk == tk)
    # bioes: an entity is closed (E/S) before anything but its own I/E; I/E only continue an open entity
    if p in ("B", "I"):
        return t in ("I", "E") and pk == tk
    return t not in ("I", "E")


def first_invalid(tags: Sequence[str], scheme: str) -> int | None:
    """The index of the first tag whose transition is not allowed (``len(tags)``: the end), or None if valid."""
    prev = None
    for i, tag in enumerate([*tags, None]):
        if not transition_allowed(prev, tag, scheme):
            return i
        prev = tag
    return None


def entity_spans(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """(type, start, end inclusive) of each entity, read as ``conlleval`` reads any of the schemes: an entity
    starts at B/S, or at I/E after O, after another type or after a closed entity (E/S); it ends at E/S, or
    before a token that starts an entity or is O."""
    spans: list[tuple[str, int, int]] = []
    start, kind, prev_p = None, None, "O"
    for i, tag in enumerate(tags):
        p, k = split_tag(tag) or ("O", None)
        begins = p in ("B", "S") or (p in ("I", "E") and (prev_p in ("O", "E", "S") or k != kind))
        if start is not None and (p == "O" or begins):
            spans.append((kind, start, i - 1))
            start = None
        if p != "O" and (begins or start is None):
            start, kind = i, k
        if p in ("E", "S") and start is not None:
            spans.append((kind, start, i))
            start = None
        prev_p = p
    if start is not None:
        spans.append((kind, start, len(tags) - 1))
    return spans


def spans_to_tags(spans: Sequence[tuple[str, int, int]], length: int, scheme: str) -> list[str]:
    """Tags of ``length`` tokens in ``scheme`` for non-overlapping entity ``spans`` (type, start, end)."""
    tags = ["O"] * length
    last_end, last_kind = -2, None
    for kind, start, end in sorted(spans, key=lambda s: s[1]):
        for i in range(start, end + 1):
            tags[i] = f"I-{kind}"
        if scheme == "iob2" or (scheme == "iob1" and last_end == start - 1 and last_kind == kind):
            tags[start] = f"B-{kind}"
        elif scheme == "bioes":
            tags[start] = f"B-{kind}" if end > start else f"S-{kind}"
            if end > start:
                tags[end] = f"E-{kind}"
        last_end, last_kind = end, kind
    return tags


def detect_scheme(sentences: Sequence[TaggedSentence]) -> str | None:
    """The first of bioes / iob2 / iob1 in which every sentence is valid (bioes only if E- or S- tags occur),
    or None when none fits."""
    has_es = any(t[:2] in ("E-", "S-") for s in sentences for t in s.tags)
    for scheme in (("bioes",) if has_es else ("iob2", "iob1")):
        if all(first_invalid(s.tags, scheme) is None for s in sentences):
            return scheme
    return None


def convert(sentences: Sequence[TaggedSentence], source: str, target: str, on_invalid: str = "repair",
            where: str = "<data>") -> list[TaggedSentence]:
    """Sentences re-tagged from ``source`` (a scheme, or ``auto``: :func:`detect_scheme`) to ``target``.

    ``on_invalid``: ``refuse`` raises a DataError at the first tag that breaks ``source`` (``file:line``);
    ``repair`` reads the entities leniently (:func:`entity_spans`) and writes them in ``target``."""
    if target not in SCHEMES or source not in (*SCHEMES, "auto"):
        raise DataError(f"{where}: tag schemes are {', '.join(SCHEMES)} (and auto for the input)")
    if on_invalid not in ("repair", "refuse"):
        raise DataError(f"{where}: on_invalid must be repair or refuse, not '{on_invalid}'")
    if source == "auto":
        source = detect_scheme(sentences) or ("bioes" if any(t[:2] in ("E-", "S-") for s in sentences
                                                              for t in s.tags) else "iob2")
    out = []
    for s in sentences:
        bad = first_invalid(s.tags, source)
        if bad is not None and on_invalid == "refuse":
            line = s.lines[min(bad, len(s.lines) - 1)] if s.lines else "?"
            shown = s.tags[bad] if bad < len(s.tags) else f"end of sentence after {s.tags[-1]}"
            raise DataError(f"{where}:{line}: invalid {source.upper()} tag sequence at '{shown}'")
        out.append(TaggedSentence(s.tokens, spans_to_tags(entity_spans(s.tags), len(s.tags), target), s.lines))
    return out


#: casing categories of :func:`casing` (index 0 is padding)
CASINGS = ("<pad>", "numeric", "mainly_numeric", "all_lower", "all_upper", "initial_upper", "contains_digit",
           "other")


def casing(word: str) -> int:
    """The casing category of a word (Reimers & Gurevych 2017's feature; GloVe 6B is lowercased, so the
    word lookup loses the case and this feature gives it back)."""
    digits = sum(c.isdigit() for c in word)
    if word.isdigit():
        return CASINGS.index("numeric")
    if digits / max(len(word), 1) > 0.5:
        return CASINGS.index("mainly_numeric")
    if word.islower():
        return CASINGS.index("all_lower")
    if word.isupper():
        return CASINGS.index("all_upper")
    if word[:1].isupper():
        return CASINGS.index("initial_upper")
    if digits:
        return CASINGS.index("contains_digit")
    return CASINGS.index("other")
