"""Moved to :mod:`dl4nlp.pipelines.classification`; this name stays an alias of it for the documented Python API."""

import sys

from dl4nlp.pipelines import classification

sys.modules[__name__] = classification
