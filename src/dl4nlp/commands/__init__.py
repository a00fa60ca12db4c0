"""CLI commands of individual features, registered in dl4nlp.cli."""
