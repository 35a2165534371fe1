"""The generative kind: a model writes a program per prompt, the program makes a sound, and the harness
judges the sound against real references of the prompt's concept.

Data flow: config.py (the task file) -> command.py (the `--task` command) -> runner.py with generators.py
(texts), executor.py (guarded programs), distances.py / clap_score.py (scores) -> results.py (the typed file)
-> report.py (table, figure), compare.py, leaderboard.py (the readers).
"""
