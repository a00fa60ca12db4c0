"""Models: plain ``nn.Module``s, one family per file, no training code.

Sentence classifiers share one calling convention::

    logits = model(tokens, mask)     # tokens LongTensor [B, T], mask BoolTensor [B, T] -> [B, C]

and a ``build(params, vocab, num_classes)`` classmethod that validates ``params`` against the model's
``Options`` dataclass (an unknown key is an error naming it).
"""
