"""A small PTB-like word tokenizer, so raw user text is split the way SST/PTB text was.

``"It's not bad (really)!"`` -> ``it 's not bad ( really ) !`` (with ``lowercase=True``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# PTB escapes used in SST trees, and their plain forms
PTB_ESCAPES = {
    "-LRB-": "(", "-RRB-": ")", "-LSB-": "[", "-RSB-": "]", "-LCB-": "{", "-RCB-": "}",
    "\\/": "/", "\\*": "*", "``": '"', "''": '"',
}

_TOKEN = re.compile(
    r"""(?:n't\b)                      # don't -> do n't
      | (?:'(?:s|re|ve|ll|d|m)\b)      # clitics: 's 're 've 'll 'd 'm
      | (?:\w+(?:[-.'/]\w+)*(?=n't\b)) # the 'do' of "don't"
      | (?:\w+(?:[-./]\w+)*)           # words, hyphenated words, numbers, J.R.R
      | (?:\.\.\.)                     # ellipsis
      | (?:[^\w\s])                     # any other single symbol
    """,
    re.VERBOSE | re.IGNORECASE,
)
_TAGS = re.compile(r"<br\s*/?>|<[^>]{1,20}>")


def unescape_ptb(token: str) -> str:
    return PTB_ESCAPES.get(token, token.replace("\\/", "/").replace("\\*", "*"))


@dataclass
class Tokenizer:
    """Regex word tokenizer with optional lower-casing and HTML-tag stripping (IMDB has ``<br />``).

    ``ngrams=n`` (bag-of-words models only) appends every word 2-gram .. n-gram, joined by a space, after the
    words: ``"not bad at all"`` with n = 2 -> ``not bad at all | not bad, bad at, at all`` (the n-gram
    features of Wang & Manning 2012's BiNB / NBSVM)."""

    lowercase: bool = True
    ngrams: int = 1

    def __call__(self, text: str) -> list[str]:
        text = _TAGS.sub(" ", text)
        tokens = _TOKEN.findall(text)
        if self.lowercase:
            tokens = [t.lower() for t in tokens]
        if self.ngrams > 1:
            tokens += [" ".join(tokens[i : i + n]) for n in range(2, self.ngrams + 1)
                       for i in range(len(tokens) - n + 1)]
        return tokens
