"""The public leaderboard: `checks` (can a results file be trusted?), `submit` (file it under
leaderboard/submissions/), `build` (render leaderboard/index.html and README.md); the subcommand is grounding_eval/cli/leaderboard.py."""

from __future__ import annotations
