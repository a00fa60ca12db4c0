"""Moved to :mod:`dl4nlp.pipelines.captioning`; this name stays an alias of it for the documented Python API."""

import sys

from dl4nlp.pipelines import captioning

sys.modules[__name__] = captioning
