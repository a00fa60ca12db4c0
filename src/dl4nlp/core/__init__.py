"""Configuration, the model-name registry, run folders, file I/O, errors and devices: what every layer uses."""
