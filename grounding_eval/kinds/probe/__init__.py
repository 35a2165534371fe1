"""The probe kind (the reference study's protocol): a linear probe from a model's text vectors to perception
vectors, trained on some concepts and scored on held-out ones, beside its controls.

Data flow, one file each: config.py (the task file) -> command.py (the `--task` command) -> runner.py with
steps.py and protocol.py (embed, split, fit, score) -> results.py (the typed file) -> compare.py,
leaderboard.py, golden.py (the readers); grid.py / grid_command.py run many models x backbones; plots.py,
reference.py (CLAP zero-shot) beside them.
"""
