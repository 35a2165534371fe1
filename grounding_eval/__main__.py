"""`python -m grounding_eval` is the `grounding-eval` command."""

from grounding_eval.cli import main

main()
