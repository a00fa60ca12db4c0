"""The training engine (Lightning Trainer, checkpoints, resume, DDP), progress, and text generation."""
