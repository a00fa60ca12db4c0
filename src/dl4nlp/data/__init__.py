"""Data readers (files -> ``datasets.Dataset``), tokenizer, vocabulary and batching."""
