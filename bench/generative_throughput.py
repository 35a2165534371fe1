"""Generative kind throughput, as ratios measured in one run:

    .venv/bin/python bench/generative_throughput.py [--model HuggingFaceTB/SmolLM2-135M-Instruct] [--prompts 8]
        [--max-new-tokens 64] [--programs 10]

1. generation: HFCausalLMGenerator.generate vs a plain loop (tokenizer -> model.generate with the same chat
   template, batch, sampling settings and seed), tokens per second and the ratio (target >= 0.9x);
2. execution: the guarded executor (process start to waveform back, bubblewrap when present) vs running the
   same program inline with exec(), ms per program and the ratio, on programs making 0.5-4 s of audio;
3. scoring: the set scorers (FAD + FAD-inf, KAD per concept) on embeddings of the size a notes run makes.
Prints the load average with every figure (the machine is shared).
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def load() -> str:
    return open("/proc/loadavg").read().split()[0]


def bench_generation(model: str, n_prompts: int, max_new_tokens: int) -> None:
    import torch

    from grounding_eval.kinds.generative.base import Prompt
    from grounding_eval.kinds.generative.generators import HFCausalLMGenerator

    prompts = [Prompt(f"p{i}", "piano", f"Write a Python program that plays note number {i} on a piano.", {}) for i in range(n_prompts)]
    # Greedy on both sides: the same tokens come out, so the times compare the same work.
    gen = HFCausalLMGenerator(model, device="cpu", batch_size=n_prompts, max_new_tokens=max_new_tokens, do_sample=False)
    tok, m = gen.tokenizer, gen.model
    texts = [gen.render(p) for p in prompts]

    def plain() -> int:
        torch.manual_seed(0)
        enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.inference_mode():
            out = m.generate(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], do_sample=False,
                             max_new_tokens=max_new_tokens, pad_token_id=tok.pad_token_id)
        return tok.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)

    def harness() -> list[str]:
        return [t[0] for t in gen.generate(prompts, n_samples=1, seed=0)]

    plain()  # warm-up (allocations, kernels)
    rows = []
    texts_out = {}
    for label, fn in (("plain model.generate", plain), ("harness generator", harness), ("plain model.generate", plain),
                      ("harness generator", harness)):
        t = time.perf_counter()
        texts_out[label] = fn()
        rows.append((label, n_prompts / (time.perf_counter() - t), load()))
    for label, pps, la in rows:
        print(f"generation  {label:22s} {pps:6.2f} prompts/s ({max_new_tokens} new tokens max, batch {n_prompts})   load {la}")
    same = texts_out["plain model.generate"] == texts_out["harness generator"]
    plain_pps = np.mean([r[1] for r in rows if r[0].startswith("plain")])
    harness_pps = np.mean([r[1] for r in rows if r[0].startswith("harness")])
    print(f"generation  ratio harness/plain = {harness_pps / plain_pps:.2f}x (target >= 0.9x); identical texts: {same}")


PROGRAM = """
import numpy as np
def generate():
    sr = 16000
    t = np.arange(int(sr * {seconds})) / sr
    return 0.5 * np.sin(2 * np.pi * 440 * t) * np.exp(-2 * t), sr
"""


def bench_execution(n: int) -> None:
    from grounding_eval.kinds.generative.executor import GuardedPythonExecutor

    programs = [PROGRAM.format(seconds=s) for s in np.linspace(0.5, 4.0, n).round(2)]
    for sandbox in ("auto", "none"):
        ex = GuardedPythonExecutor(sandbox=sandbox)
        ex.run_program(programs[0])  # warm-up
        t = time.perf_counter()
        kinds = [ex.run_program(p).kind for p in programs]
        guarded = (time.perf_counter() - t) / n
        t = time.perf_counter()
        for p in programs:
            env: dict = {}
            exec(compile(p, "program.py", "exec"), env)
            env["generate"]()
        inline = (time.perf_counter() - t) / n
        print(f"execution   sandbox={ex.protections()['sandbox']:10s} guarded {1000 * guarded:7.1f} ms/program, inline "
              f"{1000 * inline:6.1f} ms/program, overhead ratio {guarded / inline:6.1f}x ({kinds.count('ok')}/{n} ok)   load {load()}")


def bench_scoring() -> None:
    from grounding_eval.kinds.generative.distances import fad_inf, per_class_kad

    rng = np.random.default_rng(0)
    gen, ref = rng.standard_normal((100, 512)), rng.standard_normal((66, 512))
    gc, rc = np.repeat(np.arange(10), 10), np.arange(66) % 10
    t = time.perf_counter()
    fad_inf(gen, ref)
    per_class_kad(gen, gc, ref, rc)
    print(f"scoring     FAD + FAD-inf + KAD on 100 generated x 66 references (512-d): {time.perf_counter() - t:.2f} s   load {load()}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="HuggingFaceTB/SmolLM2-135M-Instruct")
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--programs", type=int, default=10)
    ap.add_argument("--skip-generation", action="store_true")
    ap.add_argument("--only-generation", action="store_true")
    a = ap.parse_args()
    if not a.only_generation:
        bench_execution(a.programs)
        bench_scoring()
    if not a.skip_generation:
        bench_generation(a.model, a.prompts, a.max_new_tokens)


if __name__ == "__main__":
    main()
