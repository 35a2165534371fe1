"""Audio pipeline throughput and memory, measured in one run on real recordings.

    python bench/audio_throughput.py [--backbone panns|passt|logmel|aisfx] [--clips 32] [--batch-size 8]

Prints, on the same clips and batch size:
  harness / own forward  clips per second of `backbone.embed(paths)` (decoding in worker processes,
                         overlapping the forward) over the backbone's own forward on pre-decoded
                         waveforms (decoding not timed)                            target >= 0.9x
  harness / plain loop   over a loop that decodes and embeds one file at a time    target >= 3x
  peak memory            peak RSS of a cached run over N and 10 N clips (fresh processes)   target: flat

PaSST and CNN14 run the real architectures at random init (no weights are downloaded; speed does not
depend on the weights). Clips are cut/padded to `--seconds` so every batch is full.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CLIP_GLOBS = ("/usr/share/sounds/freedesktop/stereo/*.oga", "/usr/share/games/minetest/**/sounds/*.ogg")


def real_clips(n: int) -> list[str]:
    files = sorted(f for g in CLIP_GLOBS for f in glob.glob(g, recursive=True))
    if not files:
        sys.exit("no recordings: apt-get install sound-theme-freedesktop minetest-data")
    return [files[i % len(files)] for i in range(n)]


def make_backbone(name: str, batch_size: int, seconds: float, num_workers: int | None, workdir: Path):
    import torch

    opts = dict(device="cpu", batch_size=batch_size, max_seconds=seconds, min_seconds=seconds)
    if num_workers is not None:
        opts["num_workers"] = num_workers
    torch.manual_seed(0)
    if name == "panns":
        from grounding_eval_panns.backbone import PannsBackbone, build_cnn14

        ckpt = workdir / "cnn14.pth"
        if not ckpt.exists():
            torch.save({"model": build_cnn14().state_dict()}, ckpt)
        return PannsBackbone(checkpoint=str(ckpt), **opts)
    if name == "passt":
        from grounding_eval_passt.backbone import PasstBackbone, build

        ckpt = workdir / "passt.pt"
        if not ckpt.exists():
            torch.save(build("passt_s_swa_p16_128_ap476", "all", None).net.state_dict(), ckpt)
        return PasstBackbone(checkpoint=str(ckpt), **opts)
    if name == "logmel":
        from grounding_eval.audio.logmel import LogMelBackbone

        return LogMelBackbone(**opts)
    if name == "aisfx":
        from grounding_eval_aisfx.backbone import AisfxBackbone

        return AisfxBackbone(**opts)
    sys.exit(f"unknown backbone {name}")


def timed(fn) -> tuple[float, object]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def speed(args: argparse.Namespace) -> dict[str, float]:
    workdir = Path(args.workdir)
    clips = real_clips(args.clips)
    bb = make_backbone(args.backbone, args.batch_size, args.seconds, None, workdir)
    bb.embed(clips[: args.batch_size])  # warm up: weights loaded, first-call costs paid
    dec = bb.decoder()
    waves = [dec(c) for c in clips]  # pre-decoded, untimed

    def own_forward():
        return np.concatenate([bb.embed_waveforms(waves[s : s + args.batch_size]) for s in range(0, len(waves), args.batch_size)])

    def harness():
        return bb.embed(clips)

    def plain_loop():
        return np.concatenate([bb.embed_waveforms([dec(c)]) for c in clips])

    res: dict[str, float] = {"num_workers": bb.num_workers}
    for name, fn in (("own_forward", own_forward), ("harness", harness), ("plain_loop", plain_loop)):
        best = float("inf")
        for _ in range(args.repeats):
            t, out = timed(fn)
            best = min(best, t)
        res[name] = len(clips) / best
        assert np.asarray(out).shape[0] == len(clips)
    return res


def memory_child(args: argparse.Namespace) -> None:
    """One cached run over --clips clips in this (fresh) process; prints its peak RSS in MB."""
    from grounding_eval.cache import EmbeddingCache
    from grounding_eval.data.base import Instance

    bb = make_backbone(args.backbone, args.batch_size, args.seconds, None, Path(args.workdir))
    clips = real_clips(args.clips)
    insts = [Instance(id=str(i), concept="c", source=c, content_hash=f"{i}") for i, c in enumerate(clips)]
    with tempfile.TemporaryDirectory() as tmp:
        cache = EmbeddingCache(tmp)
        vecs, _ = cache.embed(bb.cache_key(), bb.identity(), [i.content_hash for i in insts], insts, bb.embed,
                              bb.batch_size, stream=bb.embed_batches)
    assert vecs.shape[0] == len(clips)
    print(json.dumps({"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def peak_rss(args: argparse.Namespace, n: int) -> float:
    cmd = [sys.executable, __file__, "--memory-child", "--backbone", args.backbone, "--clips", str(n),
           "--batch-size", str(args.batch_size), "--seconds", str(args.seconds), "--workdir", args.workdir]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])["peak_rss_mb"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backbone", default="panns")
    p.add_argument("--clips", type=int, default=32)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--memory-clips", type=int, default=16, help="N for the memory test (N and 10 N)")
    p.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "ge-bench-audio"))
    p.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    if args.memory_child:
        memory_child(args)
        return
    r = speed(args)
    small, large = peak_rss(args, args.memory_clips), peak_rss(args, 10 * args.memory_clips)
    print(f"backbone {args.backbone}, {args.clips} real clips of {args.seconds:g} s, batch size {args.batch_size}, "
          f"{int(r['num_workers'])} decoding worker(s), {os.cpu_count()} CPU cores")
    print(f"clips/s  own forward on pre-decoded waveforms {r['own_forward']:.2f}  harness {r['harness']:.2f}  "
          f"plain one-file loop {r['plain_loop']:.2f}")
    print(f"harness / own forward  {r['harness'] / r['own_forward']:.2f}x  (target >= 0.9x)")
    print(f"harness / plain loop   {r['harness'] / r['plain_loop']:.2f}x  (target >= 3x)")
    print(f"peak RSS  {args.memory_clips} clips {small:.0f} MB, {10 * args.memory_clips} clips {large:.0f} MB: "
          f"{large / small:.2f}x  (target: flat, ~1.0x)")


if __name__ == "__main__":
    main()
