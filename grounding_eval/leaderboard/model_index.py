"""`grounding-eval leaderboard model-index RESULTS.json [--push REPO]`: the `model-index` metadata a Hugging
Face model card carries, built by huggingface_hub's own `metadata_eval_result` (one call per task, variant
and metric; the metrics of one task and dataset are merged into one block), printed as the card's YAML header, and with `--push`
written into the card of a hub repo by `metadata_update`.

What goes in, per task of the file (a layer sweep: per layer): the probe's and each control's mean on every
metric, in percent, with the dataset's name, fingerprint (as its revision) and the perception backbone (as
its config), so a card says what was measured with what. Numbers are the file's, unchanged. A generative
results file gives the system's scores with failures as silence and over valid clips (with the valid-audio
rate), and each control's, per clip-level metric.
"""

from __future__ import annotations

from typing import Any

import yaml

from grounding_eval.errors import GroundingEvalError
from grounding_eval.leaderboard.checks import rules
from grounding_eval.results import ResultsFile, as_results, load
from grounding_eval.text.hub import hub_reachable


def model_index(res: ResultsFile | dict[str, Any]) -> dict[str, Any]:
    """{"model-index": [...]} for a loaded results file, via huggingface_hub.metadata_eval_result (the rows are
    the kind's: its leaderboard module's `model_index_rows`)."""
    from huggingface_hub import metadata_eval_result

    res = as_results(res)
    model = res.model.name
    results: list[dict[str, Any]] = []
    for key in res.results:
        for row in rules(res).model_index_rows(res, key):
            meta = metadata_eval_result(model_pretty_name=model, **row)
            for block in meta["model-index"][0]["results"]:
                # One block per (task, dataset): its metrics listed together, as cards usually show them.
                same = next((b for b in results if b["task"] == block["task"] and b["dataset"] == block["dataset"]), None)
                if same is None:
                    results.append(block)
                else:
                    same["metrics"] += block["metrics"]
    if not results:
        raise GroundingEvalError("field results: no task in the file; nothing to put in a model card")
    return {"model-index": [{"name": model, "results": results}]}


def model_index_yaml(path: str) -> str:
    """The card's YAML header (between `---` lines) for the results file at `path`."""
    data = model_index(load(path))
    return "---\n" + yaml.safe_dump(data, sort_keys=False, allow_unicode=True) + "---\n"


def push_model_index(path: str, repo: str) -> str:
    """Write the model-index into hub repo `repo`'s card (metadata_update); one line when that cannot be done."""
    from huggingface_hub import metadata_update
    from huggingface_hub.errors import HfHubHTTPError

    data = model_index(load(path))
    if not hub_reachable():
        raise GroundingEvalError(f"--push {repo}: the Hugging Face hub cannot be reached (offline); the model-index "
                                 "above is the card's metadata: paste it into README.md, or push where there is internet")
    try:
        return str(metadata_update(repo, data, repo_type="model", overwrite=True))
    except (HfHubHTTPError, OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise GroundingEvalError(f"--push {repo}: the hub refused the card update ({first}); log in with "
                                 "`huggingface-cli login` (a write token) and check the repo id") from None
