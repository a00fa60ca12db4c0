"""Moved to :mod:`dl4nlp.pipelines.distill`; this name stays an alias of it for the documented Python API."""

import sys

from dl4nlp.pipelines import distill

sys.modules[__name__] = distill
