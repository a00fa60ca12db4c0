"""Figures and diagnostics: learning curves, confusion matrices, ladders, attention maps, trees, gradients."""
