"""The built-in plugins: registered through the same hooks as any third-party plugin.

Each factory imports its module when called, not at registration: the encoders import torch and
transformers (seconds), and `grounding-eval tasks` or `plugins` must not pay for that.

The shipped task YAML files are found by the TaskManager itself (tasks/ in a checkout, the packaged
copy in a wheel), so there is no built-in tasks plugin.
"""
