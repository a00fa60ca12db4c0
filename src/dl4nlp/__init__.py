"""dl4nlp: deep learning for NLP, from logistic regression to transformers.

Light on import: heavy libraries (torch, lightning, transformers, gradio) are imported by the
modules that need them, so ``dl4nlp --help`` starts fast. The old module paths of the Python API
(``dl4nlp.config``, ``dl4nlp.training``, ``dl4nlp.classify``, ...) stay importable: :mod:`dl4nlp._aliases`.
"""

from dl4nlp import _aliases

_aliases.install()

__version__ = "0.1.0"
