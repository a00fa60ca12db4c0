"""Tasks: LightningModules that own a model's loss, metrics, optimiser and schedule."""
