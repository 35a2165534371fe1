"""The knowledge kind: multiple-choice questions about sound, scored the way lm-evaluation-harness scores them
(the log-likelihood of each choice given the question; acc and acc_norm), with chance, a choice-only baseline,
the random-init control, bootstrap intervals over questions and paired tests (docs/knowledge.md).

Parts (named by import path in the kinds table): config, command (run), results, compare, leaderboard; beside
them items (the question sets), scoring (models and the score cache) and runner (one evaluation).
"""
