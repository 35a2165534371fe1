"""Text-side throughput: grounding-eval's encoder against a plain AutoModel forward loop, and a warm cache.

    .venv/bin/python bench/text_throughput.py [--model sentence-transformers/all-MiniLM-L6-v2] [--n 2000]

Prints prompts per second for (1) a plain loop: tokenizer(batch, padding=True) -> AutoModel -> masked mean
over the last hidden state, (2) HFTextEncoder.embed on the same prompts (mean pooling, last layer, same
batch size), (3) the runner's cached path on a cold cache and (4) on a warm one, and the ratios. All in one
run, on the same machine state; the prompts are AudioSet-style class names in "the sound of {concept}".
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np


def _concepts(n: int) -> list[str]:
    import csv
    from importlib import resources

    names: list[str] = []
    with resources.files("grounding_eval.data").joinpath("distro_sounds_labels.csv").open() as f:
        for row in csv.DictReader(f):
            if row["label"].strip():
                names.append(row["label"].split(",")[0].strip().lower())  # "Violin, fiddle" -> "violin"
    names = sorted(set(names)) or ["dog"]
    rng = np.random.default_rng(0)
    # Distinct prompts of varied length: a concept, sometimes with a qualifier or a second concept.
    quals = ["", "a loud ", "a distant ", "a small ", "an old ", "the faint "]
    out = []
    for i in range(n):
        a, b = names[rng.integers(len(names))], names[rng.integers(len(names))]
        out.append(f"{quals[i % len(quals)]}{a}" + (f" and {b}" if i % 3 == 0 else "") + f" #{i}")
    return out


def plain_loop(model_path: str, texts: list[str], batch_size: int) -> tuple[float, np.ndarray]:
    import torch
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_path)
    model = AutoModel.from_pretrained(model_path).eval()
    t = time.perf_counter()
    out = []
    with torch.inference_mode():
        for s in range(0, len(texts), batch_size):
            enc = tok(texts[s : s + batch_size], padding=True, truncation=True, max_length=64, return_tensors="pt")
            h = model(**enc).last_hidden_state
            m = enc["attention_mask"][..., None].float()
            out.append(((h * m).sum(1) / m.sum(1)).numpy())
    return time.perf_counter() - t, np.concatenate(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="sentence-transformers/all-MiniLM-L6-v2")
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--batch-size", type=int, default=32)
    args = ap.parse_args()

    import torch
    from rich.console import Console
    from rich.table import Table

    from grounding_eval.cache import EmbeddingCache
    from grounding_eval.progress import Reporter
    from grounding_eval.steps import text_vectors
    from grounding_eval.text.hf import make_hf_encoder

    torch.manual_seed(0)
    texts = [f"the sound of {c}" for c in _concepts(args.n)]
    enc = make_hf_encoder(args.model, batch_size=args.batch_size)
    enc.embed(texts[:64])  # warm-up: first-call allocations are not throughput
    t_plain, ref = plain_loop(enc.resolved.path, texts, args.batch_size)
    t = time.perf_counter()
    ours = enc.embed(texts)
    t_ours = time.perf_counter() - t
    assert np.allclose(ours, ref, atol=1e-4), float(np.abs(ours - ref).max())

    rep = Reporter(Console(stderr=True), False)
    with tempfile.TemporaryDirectory() as tmp:
        cache = EmbeddingCache(tmp)
        spans = [(13, len(x)) for x in texts]
        t = time.perf_counter()
        text_vectors(enc, texts, spans, cache, rep, "cold")
        t_cold = time.perf_counter() - t
        t = time.perf_counter()
        warm, stats = text_vectors(enc, texts, spans, EmbeddingCache(tmp), rep, "warm")
        t_warm = time.perf_counter() - t
        assert stats["computed"] == 0 and np.allclose(warm, ours, atol=1e-6)

    n = len(texts)
    table = Table(title=f"text throughput · {args.model} · {n} prompts · batch {args.batch_size} · {torch.get_num_threads()} threads")
    for col in ("path", "seconds", "prompts/s"):
        table.add_column(col, justify="right" if col != "path" else "left")
    for name, sec in (("plain AutoModel loop", t_plain), ("HFTextEncoder.embed", t_ours),
                      ("runner, cold cache", t_cold), ("runner, warm cache", t_warm)):
        table.add_row(name, f"{sec:.2f}", f"{n / sec:,.0f}")
    Console().print(table)
    print(f"encoder / plain loop throughput: {t_plain / t_ours:.2f}x (target >= 0.90)")
    print(f"warm cache speed-up over cold: {t_cold / t_warm:.0f}x")


if __name__ == "__main__":
    main()
