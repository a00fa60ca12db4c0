"""Moved to :mod:`dl4nlp.pipelines.ulmfit`; this name stays an alias of it for the documented Python API."""

import sys

from dl4nlp.pipelines import ulmfit

sys.modules[__name__] = ulmfit
