"""`grounding-eval compare`: the exit code a CI job acts on, and the differences it names.

The logic tests start from the committed real run (leaderboard/golden/) and change one thing each; the
end-to-end test at the bottom runs the real offline default task (see its docstring).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

from grounding_eval.cli import main
from grounding_eval.compare import threshold
from grounding_eval.kinds.probe.protocol import mean_stderr

REPO = Path(__file__).resolve().parent.parent
GOLDEN = REPO / "leaderboard" / "golden" / "distro_sounds_audio_probe.json"
LOGMEL = next((REPO / "leaderboard" / "submissions" / "distro_sounds_audio_probe" / "logmel").rglob("*.json"))
TASK = "distro_sounds_audio_probe"


@pytest.fixture
def real() -> dict:
    return json.loads(GOLDEN.read_text())


def shifted(res: dict, metric: str, by: float) -> dict:
    """A copy whose per-run `metric` moved by `by`, summary recomputed (a consistent file)."""
    out = copy.deepcopy(res)
    runs = out["tasks"][TASK]["runs"]
    for run in runs:
        run["probe"]["scores"][metric] = min(1.0, max(0.0, run["probe"]["scores"][metric] + by))
    out["results"][TASK]["probe"][metric] = mean_stderr([r["probe"]["scores"][metric] for r in runs])
    return out


def run_compare(tmp_path, new: dict | str, old: dict | str, *extra, capsys):
    paths = []
    for i, d in enumerate((new, old)):
        if isinstance(d, dict):
            p = tmp_path / f"f{i}.json"
            p.write_text(json.dumps(d))
            d = str(p)
        paths.append(d)
    with pytest.raises(SystemExit) as exc:
        main(["compare", paths[0], "--baseline", paths[1], *extra])
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


def test_same_results_pass(real, tmp_path, capsys):
    code, out, _ = run_compare(tmp_path, real, str(GOLDEN), capsys=capsys)
    assert code == 0 and "paired t" in out and "DROP" not in out


def test_paired_drop_fails_and_rise_only_fails_two_sided(real, tmp_path, capsys):
    code, out, _ = run_compare(tmp_path, shifted(real, "mrr", -0.02), real, capsys=capsys)
    assert code == 1 and "REGRESSION" in out and "mrr dropped by 2.00 points" in out
    up = shifted(real, "mrr", +0.02)
    assert run_compare(tmp_path, up, real, capsys=capsys)[0] == 0
    code, out, _ = run_compare(tmp_path, up, real, "--two-sided", capsys=capsys)
    assert code == 1 and "mrr rose by 2.00 points" in out


def test_fixed_tolerance(real, tmp_path, capsys):
    drop = shifted(real, "mrr", -0.02)
    assert run_compare(tmp_path, drop, real, "--tolerance", "0.03", capsys=capsys)[0] == 0
    assert run_compare(tmp_path, drop, real, "--tolerance", "0.01", capsys=capsys)[0] == 1
    code, _, err = run_compare(tmp_path, drop, real, "--tolerance", "5", capsys=capsys)
    assert code == 2 and "--tolerance" in err


def test_threshold_is_the_t_test_on_runs():
    old = np.array([0.10, 0.12, 0.08, 0.11, 0.09])
    new = old - np.array([0.01, 0.03, 0.02, 0.02, 0.02])
    thr, method = threshold(old, new, paired=True, alpha=0.05)
    d = new - old
    assert method == "paired t" and thr == pytest.approx(2.1318 * d.std(ddof=1) / np.sqrt(5), rel=1e-3)
    thr_u, method_u = threshold(old, new, paired=False, alpha=0.05)
    se = np.sqrt(old.var(ddof=1) / 5 + new.var(ddof=1) / 5)
    assert method_u == "Welch t" and 1.8 * se < thr_u < 2.2 * se


def test_other_backbone_task_version_or_dataset_is_named_and_exits_2(real, tmp_path, capsys):
    code, out, err = run_compare(tmp_path, str(LOGMEL), real, capsys=capsys)
    assert code == 2 and "backbone aisfx (baseline) vs logmel (new)" in out and err.count("\n") == 1
    code, out, _ = run_compare(tmp_path, str(LOGMEL), real, "--allow-mismatch", capsys=capsys)
    assert code in (0, 1) and "not comparable" in out
    bumped = copy.deepcopy(real)
    v = real["tasks"][TASK]["version"]
    bumped["tasks"][TASK]["version"] = v + 1
    code, out, _ = run_compare(tmp_path, bumped, real, capsys=capsys)
    assert code == 2 and f"task version {v} (baseline) vs {v + 1} (new)" in out
    other = copy.deepcopy(real)
    other["tasks"][TASK]["config"]["probe"]["epochs"] = 10
    code, out, _ = run_compare(tmp_path, other, real, capsys=capsys)
    assert code == 2 and "task config differs at 'probe.epochs'" in out
    data = copy.deepcopy(real)
    data["tasks"][TASK]["dataset"]["fingerprint"] = "f" * 64
    code, out, _ = run_compare(tmp_path, data, real, capsys=capsys)
    assert code == 2 and "dataset distro_sounds differs" in out


def test_tasks_in_one_file_only_are_named(real, tmp_path, capsys):
    both = copy.deepcopy(real)
    both["results"]["extra_task"] = both["results"][TASK]
    both["tasks"]["extra_task"] = both["tasks"][TASK]
    code, out, _ = run_compare(tmp_path, both, real, capsys=capsys)
    assert code == 0 and "only in the new file, not compared: extra_task" in out


def test_bad_input_exits_2(real, tmp_path, capsys):
    code, _, err = run_compare(tmp_path, str(tmp_path / "missing.json"), real, capsys=capsys)
    assert code == 2 and "no such results file" in err
    tampered = copy.deepcopy(real)
    tampered["results"][TASK]["probe"]["mrr"]["mean"] = 0.9  # summary without its runs
    code, _, err = run_compare(tmp_path, tampered, real, capsys=capsys)
    assert code == 2 and "does not match its 5 runs" in err
    code, _, err = run_compare(tmp_path, real, real, "--metrics", "acc", capsys=capsys)
    assert code == 2 and "--metrics" in err
