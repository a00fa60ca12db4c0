"""Moved to :mod:`dl4nlp.pipelines.finetune`; this name stays an alias of it for the documented Python API."""

import sys

from dl4nlp.pipelines import finetune

sys.modules[__name__] = finetune
