"""Moved to :mod:`dl4nlp.pipelines.nli`; this name stays an alias of it for the documented Python API."""

import sys

from dl4nlp.pipelines import nli

sys.modules[__name__] = nli
