"""Text-side throughput: grounding-eval's encoder against a plain AutoModel forward loop, and a warm cache;
and the decoder (real SmolLM2-135M-Instruct, de-quantised from its GGUF): the encoder against a plain loop,
and a 31-hidden-state sweep (layer=all) against one layer.

    .venv/bin/python bench/text_throughput.py [--model sentence-transformers/all-MiniLM-L6-v2] [--n 2000]
        [--decoder HuggingFaceTB/SmolLM2-135M-Instruct] [--decoder-n 300] [--repeats 2]

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


def loadavg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def plain_loop(model_path: str, texts: list[str], batch_size: int) -> tuple[float, np.ndarray]:
    import torch
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_path)
    if tok.pad_token is None:  # a decoder: pad with EOS on the right, as a user's first loop would
        tok.pad_token = tok.eos_token
    tok.padding_side = "right"
    model = AutoModel.from_pretrained(model_path, dtype=torch.float32).eval()
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
    ap.add_argument("--decoder", default="HuggingFaceTB/SmolLM2-135M-Instruct", help="'' to skip the decoder part")
    ap.add_argument("--decoder-n", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=2, help="decoder timings alternate this often; the fastest counts")
    ap.add_argument("--skip-encoder", action="store_true", help="only the decoder part")
    args = ap.parse_args()
    if not args.skip_encoder:
        encoder_part(args)
    if args.decoder:
        decoder_part(args)


def decoder_part(args) -> None:
    """SmolLM2: HFTextEncoder (last layer) vs a plain AutoModel loop, and layer=all vs one layer, alternated."""
    import torch
    from rich.console import Console
    from rich.table import Table

    from grounding_eval.text.hf import make_hf_encoder

    texts = [f"the sound of {c}" for c in _concepts(args.decoder_n)]
    one = make_hf_encoder(args.decoder, batch_size=args.batch_size, padding_side="right")
    sweep = make_hf_encoder(args.decoder, batch_size=args.batch_size, padding_side="right", layer="all")
    one.embed(texts[:32]), sweep.embed(texts[:32])  # warm-up
    times: dict[str, list[float]] = {"plain AutoModel loop": [], "HFTextEncoder, last layer": [], "HFTextEncoder, layer=all (31)": []}
    loads = []
    for _ in range(args.repeats):
        t_plain, ref = plain_loop(one.resolved.path, texts, args.batch_size)
        times["plain AutoModel loop"].append(t_plain)
        t = time.perf_counter()
        ours = one.embed(texts)
        times["HFTextEncoder, last layer"].append(time.perf_counter() - t)
        t = time.perf_counter()
        every = sweep.embed(texts)
        times["HFTextEncoder, layer=all (31)"].append(time.perf_counter() - t)
        loads.append(loadavg())
    assert np.allclose(ours, ref, atol=1e-3), float(np.abs(ours - ref).max())
    assert every.shape[1] == 31 and np.allclose(every[:, -1], ours, atol=1e-4)
    best = {k: min(v) for k, v in times.items()}
    n = len(texts)
    table = Table(title=f"decoder throughput · {args.decoder} ({one.identity()['gguf']['quant_type']} GGUF, de-quantised) · "
                        f"{n} prompts · batch {args.batch_size} · {torch.get_num_threads()} threads · fastest of {args.repeats}")
    for col in ("path", "seconds", "prompts/s", "all runs (s)"):
        table.add_column(col, justify="right" if col != "path" else "left")
    for name, sec in best.items():
        table.add_row(name, f"{sec:.2f}", f"{n / sec:,.1f}", ", ".join(f"{x:.2f}" for x in times[name]))
    Console().print(table)
    print(f"load average after each repeat: {' | '.join(loads)}")
    print(f"decoder: encoder / plain loop throughput: {best['plain AutoModel loop'] / best['HFTextEncoder, last layer']:.2f}x "
          f"(target >= 0.90)  [load {loadavg()}]")
    print(f"decoder: layer=all (31 hidden states) / one layer time: "
          f"{best['HFTextEncoder, layer=all (31)'] / best['HFTextEncoder, last layer']:.2f}x (target <= 1.10)  [load {loadavg()}]")


def encoder_part(args) -> None:

    import torch
    from rich.console import Console
    from rich.table import Table

    from grounding_eval.cache import EmbeddingCache
    from grounding_eval.embedding import text_vectors
    from grounding_eval.progress import Reporter
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
    print(f"encoder / plain loop throughput: {t_plain / t_ours:.2f}x (target >= 0.90)  [load {loadavg()}]")
    print(f"warm cache speed-up over cold: {t_cold / t_warm:.0f}x  [load {loadavg()}]")


if __name__ == "__main__":
    main()
