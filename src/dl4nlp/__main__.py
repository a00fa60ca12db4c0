"""``python -m dl4nlp ...``: the same as the ``dl4nlp`` console script (for environments where the package is
on the path but not installed)."""

from dl4nlp.cli import main

main()
