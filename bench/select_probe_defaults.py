"""Choose the probe's fit_on, steps and learning rate by validation INSIDE the training classes.

    .venv/bin/python bench/select_probe_defaults.py --data offline [--runs 5] [--inner 3]
    .venv/bin/python bench/select_probe_defaults.py --data planted [--clips 3000]

For each outer run r (seed + r, the task's own 70/30 class split), only the TRAINING classes are used:
they are split again `--inner` times (70/30 by class, seeds [r, j]) into fit and validation classes; a
candidate trains on the fit classes' clips and its validation clips rank among the training classes only.
No test class enters the fit, the standardisation statistics or the ranking. The candidate with the best
mean validation accuracy@3 is the choice (its time is reported, not weighed). The test-class accuracy@3 of every candidate (the task's own
protocol, all classes ranked) is printed beside it for the record; it plays no part in the choice.

Data: `offline` is the offline default task (real all-MiniLM-L6-v2 x aisfx embeddings of distro_sounds,
read through the embedding cache: run the task once first, or the script computes them); `planted` is
bench/warm_rerun.py's planted FSD50K-scale embeddings (audio = W . text + noise), with fewer clips by
default so that a grid of candidates runs in minutes. Time per candidate is the mean wall time of one fit
(probe only), with the load average printed beside it.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

FIT_ON = ("instances", "concept_means")
EPOCHS = (10, 20, 40, 100)
LEARNING_RATES = (0.003, 0.01, 0.03)


def offline_embeddings(task: str, model: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(text per concept, audio per clip, concept index per clip) of `task` with `model`, via the cache: the
    probe kind's own steps, as a run takes them."""
    from rich.console import Console

    from grounding_eval import paths, plugins
    from grounding_eval.cache import EmbeddingCache
    from grounding_eval.embedding import build_instances, instance_vectors, perception_encoder
    from grounding_eval.kinds.probe.steps import concept_vectors
    from grounding_eval.progress import Reporter
    from grounding_eval.tasks.manager import TaskManager

    cfg = TaskManager([]).get(task)
    regs = plugins.registries()
    rep = Reporter(Console(stderr=True), True)
    cache = EmbeddingCache(paths.embeddings_dir())
    inst = build_instances(task, cfg, regs)
    text_encoder = regs.text_encoders.get("hf").obj(model)
    text = concept_vectors(task, cfg, inst.dataset.concepts, text_encoder, None, model, cache, rep).variants["probe"]
    audio, _ = instance_vectors(perception_encoder(task, cfg, regs, "cpu"), inst.instances, cache, rep)
    return np.asarray(text), np.asarray(audio), inst.concept_of


def planted_embeddings(classes: int, clips: int, d_audio: int, d_text: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """bench/warm_rerun.py's planted data: audio = text[class] @ W + 1.5 * noise."""
    rng = np.random.default_rng(0)
    text = rng.normal(size=(classes, d_text)).astype(np.float32)
    y = rng.integers(0, classes, size=clips)
    y[:classes] = np.arange(classes)
    y = np.sort(y)
    w = rng.normal(size=(d_text, d_audio)).astype(np.float32) / np.sqrt(d_text)
    audio = text[y] @ w + 1.5 * rng.normal(size=(clips, d_audio)).astype(np.float32)
    return text, audio, y


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", choices=("offline", "planted"), required=True)
    p.add_argument("--task", default="distro_sounds_audio_probe", help="offline: the task whose data and split to use")
    p.add_argument("--model", default="sentence-transformers/all-MiniLM-L6-v2")
    p.add_argument("--runs", type=int, default=5, help="outer runs (the task's class splits, seeds 0..runs-1)")
    p.add_argument("--inner", type=int, default=3, help="validation splits of the training classes per run")
    p.add_argument("--classes", type=int, default=144)
    p.add_argument("--clips", type=int, default=3000)
    p.add_argument("--d-audio", type=int, default=768)
    p.add_argument("--d-text", type=int, default=4096)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)

    import torch

    from grounding_eval import metrics
    from grounding_eval.kinds.probe.protocol import Metric, class_split, score
    from grounding_eval.tasks.manager import TaskManager

    torch.set_num_threads(args.threads)
    cfg = TaskManager([]).get(args.task)
    if args.data == "offline":
        text, audio, y = offline_embeddings(args.task, args.model)
        what = f"{args.task} v{cfg.version}: {args.model} x {cfg.perception_encoder.name}"
    else:
        text, audio, y = planted_embeddings(args.classes, args.clips, args.d_audio, args.d_text)
        what = f"planted: {args.classes} classes, {args.clips} clips, audio {args.d_audio}-d, text {args.d_text}-d"
    acc3 = [Metric(lambda s, t: metrics.accuracy_at_k(s, t, k=[3]))]
    n = len(text)

    rows = []
    for fit_on, epochs, lr in itertools.product(FIT_ON, EPOCHS, LEARNING_RATES):
        probe = cfg.with_overrides(**{"probe.fit_on": fit_on, "probe.epochs": epochs, "probe.learning_rate": lr}).probe
        val, test, seconds = [], [], []
        for r in range(args.runs):
            outer = class_split(n, cfg.split.train_fraction, cfg.seed + r)
            # Validation: the training classes only, re-indexed; test classes are not even distractors.
            train = outer.train
            keep = np.isin(y, train)
            sub_y = np.searchsorted(train, y[keep])
            for j in range(args.inner):
                inner = class_split(len(train), cfg.split.train_fraction, int(np.random.SeedSequence([r, j]).generate_state(1)[0]))
                t = time.perf_counter()
                rec = score(text[train], audio[keep], sub_y, inner, probe, acc3, cfg.seed + r)
                seconds.append(time.perf_counter() - t)
                val.append(rec["scores"]["accuracy@3"])
            # For the record only: the task's protocol on the test classes.
            test.append(score(text, audio, y, outer, probe, acc3, cfg.seed + r)["scores"]["accuracy@3"])
        rows.append((fit_on, epochs, lr, np.mean(val), np.std(val, ddof=1) / np.sqrt(len(val)),
                     np.mean(test), np.std(test, ddof=1) / np.sqrt(len(test)), np.mean(seconds)))
        print(f"  {fit_on:13s} {epochs:4d} steps lr {lr:<6g} val {100 * rows[-1][3]:5.1f}  test {100 * rows[-1][5]:5.1f}"
              f"  {rows[-1][7]:.2f} s/fit", file=sys.stderr)

    best = max(rows, key=lambda r: r[3])
    print(f"{what}; {args.runs} runs x {args.inner} validation splits of the training classes; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs, {args.threads} torch threads")
    print("| fit_on | steps | lr | validation acc@3 (%) | test acc@3 (%, not used) | s / fit |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        mark = " **chosen**" if r is best else ""
        print(f"| {r[0]} | {r[1]} | {r[2]:g} | {100 * r[3]:.1f} ± {100 * r[4]:.1f}{mark} | "
              f"{100 * r[5]:.1f} ± {100 * r[6]:.1f} | {r[7]:.2f} |")
    print(f"chosen by validation: fit_on {best[0]}, {best[1]} steps, learning rate {best[2]:g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
