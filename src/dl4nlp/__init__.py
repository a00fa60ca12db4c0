"""dl4nlp: deep learning for NLP, from logistic regression to transformers.

Light on import: heavy libraries (torch, lightning, transformers, gradio) are imported by the
modules that need them, so ``dl4nlp --help`` starts fast.
"""

__version__ = "0.1.0"
