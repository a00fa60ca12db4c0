"""Moved to :mod:`dl4nlp.pipelines.language_model`; this name stays an alias of it for the documented Python API."""

import sys

from dl4nlp.pipelines import language_model

sys.modules[__name__] = language_model
