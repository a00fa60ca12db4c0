"""Moved to :mod:`dl4nlp.pipelines.word2vec`; this name stays an alias of it for the documented Python API."""

import sys

from dl4nlp.pipelines import word2vec

sys.modules[__name__] = word2vec
