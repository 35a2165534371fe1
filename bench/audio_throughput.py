"""Audio pipeline throughput and memory, measured in one run on the offline default's real recordings.

    python bench/audio_throughput.py [--backbone panns|passt|aisfx|logmel] [--clips 48] [--batch-size 8]

The clips are distro_sounds' (the Debian recordings the offline default uses: 0.09 to 12.3 s, 8 to 96 kHz,
ogg and wav), cycled to --clips. Prints, with /proc/loadavg beside every figure:
  decode only            clips/s of decode + resample + length policy in one process (= one worker), at
                         16, 32, 44.1 and 48 kHz (every backbone's rate), and in seconds of audio per second
  clips per forward      mean clips (and windows) per forward of the harness      target >= 0.9 x batch size
  harness / bound        clips/s of `backbone.embed(paths)` over min(own forward, decode rate x workers),
                         the pipeline's own bottleneck                              target >= 0.9x
  own forward            the backbone's forward alone on windows cut from pre-decoded clips (not timed)
  harness / plain loop   over a loop that decodes and embeds one file at a time
  peak memory            peak RSS of a cached run over N and 10 N clips (fresh processes)   target: flat

PaSST and CNN14 run the real architectures at random init (no weights are downloaded; speed does not
depend on the weights).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RATES = (16000, 32000, 44100, 48000)


def load() -> str:
    return Path("/proc/loadavg").read_text().split(" ")[0] if os.path.exists("/proc/loadavg") else "n/a"


def real_clips(n: int) -> list[str]:
    """The offline default's recordings (distro_sounds, built from the installed Debian packages), cycled to n."""
    from grounding_eval import plugins

    ds = plugins.registries().datasets.get("distro_sounds").obj()
    files = [inst.source for inst in ds.instances]
    return [files[i % len(files)] for i in range(n)]


def make_backbone(name: str, batch_size: int, num_workers: int | None, workdir: Path):
    import torch

    opts: dict = dict(device="cpu", batch_size=batch_size)
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


def best_rate(fn, n: int, repeats: int) -> tuple[float, str]:
    """Best clips/s over `repeats` calls (the least disturbed by other jobs), and the load average then."""
    best, at = 0.0, load()
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        rate = n / (time.perf_counter() - t)
        assert out is None or np.asarray(out).shape[0] == n
        if rate > best:
            best, at = rate, load()
    return best, at


def decode_rates(clips: list[str], repeats: int) -> dict[int, tuple[float, float, str]]:
    """Per worker: clips/s and audio seconds/s of decode + resample at each backbone rate."""
    from grounding_eval.audio.pipeline import Decoder

    out = {}
    for rate in RATES:
        dec = Decoder(rate, None, 0.0, "center")
        seconds = sum(dec(c).shape[0] for c in clips) / rate
        r, at = best_rate(lambda: [dec(c) for c in clips] and None, len(clips), repeats)
        out[rate] = (r, r * seconds / len(clips), at)
    return out


def speed(args: argparse.Namespace) -> dict:
    clips = real_clips(args.clips)
    bb = make_backbone(args.backbone, args.batch_size, None, Path(args.workdir))
    bb.embed(clips[: args.batch_size])  # warm up: weights loaded, first-call costs paid
    dec = bb.decoder()
    waves = [dec(c) for c in clips]  # pre-decoded, untimed
    windowed = hasattr(bb, "run_windows")
    if windowed:
        segments = [s for w in waves for s in bb.windows().cut(w)]

        def own_forward():
            for s in range(0, len(segments), args.batch_size):
                bb.run_windows(segments[s : s + args.batch_size])
    else:
        def own_forward():
            for s in range(0, len(waves), args.batch_size):
                bb.embed_waveforms(waves[s : s + args.batch_size])

    res: dict = {"num_workers": bb.num_workers, "seconds": [len(w) / bb.sample_rate for w in waves]}
    res["own_forward"] = best_rate(own_forward, len(clips), args.repeats)
    before = getattr(bb, "forward_count", 0)
    res["harness"] = best_rate(lambda: bb.embed(clips), len(clips), args.repeats)
    if windowed:
        forwards = (bb.forward_count - before) / args.repeats
        res["clips_per_forward"] = len(clips) / forwards
        res["windows_per_forward"] = len(segments) / forwards
        res["windows"] = len(segments)
    res["plain_loop"] = best_rate(lambda: np.concatenate([bb.embed_waveforms([dec(c)]) for c in clips]),
                                  len(clips), 1)
    res["decode"] = best_rate(lambda: [dec(c) for c in clips] and None, len(clips), args.repeats)
    return res


def memory_child(args: argparse.Namespace) -> None:
    """One cached run over --clips clips in this (fresh) process; prints its peak RSS in MB."""
    from grounding_eval.cache import EmbeddingCache
    from grounding_eval.data.base import Instance

    bb = make_backbone(args.backbone, args.batch_size, None, Path(args.workdir))
    clips = real_clips(args.clips)
    insts = [Instance(id=str(i), concept="c", source=c, content_hash=f"{i}") for i, c in enumerate(clips)]
    with tempfile.TemporaryDirectory() as tmp:
        cache = EmbeddingCache(tmp)
        vecs, _ = cache.embed(bb.cache_key(), bb.identity(), [i.content_hash for i in insts], insts, bb.embed,
                              bb.batch_size, stream=bb.embed_batches)
    assert vecs.shape[0] == len(clips)
    print(json.dumps({"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def peak_rss(args: argparse.Namespace, n: int) -> tuple[float, str]:
    cmd = [sys.executable, __file__, "--memory-child", "--backbone", args.backbone, "--clips", str(n),
           "--batch-size", str(args.batch_size), "--workdir", args.workdir]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])["peak_rss_mb"], load()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backbone", default="panns")
    p.add_argument("--clips", type=int, default=48)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--memory-clips", type=int, default=16, help="N for the memory test (N and 10 N)")
    p.add_argument("--decode-only", action="store_true", help="only the decode rates (all 112 clips, every rate)")
    p.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "ge-bench-audio"))
    p.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    if args.memory_child:
        memory_child(args)
        return
    from grounding_eval.audio.pipeline import usable_cores

    if args.decode_only:
        clips = real_clips(112)
        print(f"decode + resample only, one process, the 112 distro_sounds clips ({usable_cores()} cores)")
        for rate, (r, secs, at) in decode_rates(clips, args.repeats).items():
            print(f"  {rate:>5} Hz: {r:6.1f} clips/s per worker = {secs:6.1f} s of audio per s   [load {at}]")
        return
    r = speed(args)
    s = np.array(r["seconds"])
    workers = int(r["num_workers"])
    print(f"backbone {args.backbone}, {args.clips} real clips (distro_sounds, {s.min():.2f}-{s.max():.2f} s, "
          f"median {np.median(s):.2f} s), batch size {args.batch_size}, {workers} decoding worker(s), "
          f"{usable_cores()} CPU cores")
    dec, dec_at = r["decode"]
    print(f"decode only (one process)      {dec:7.2f} clips/s   [load {dec_at}]")
    if "clips_per_forward" in r:
        print(f"clips per forward              {r['clips_per_forward']:7.2f}  (windows per forward "
              f"{r['windows_per_forward']:.2f}, {r['windows']} windows; target >= {0.9 * args.batch_size:.1f})")
    own, own_at = r["own_forward"]
    har, har_at = r["harness"]
    plain, plain_at = r["plain_loop"]
    bound = min(own, dec * workers) if workers else 1 / (1 / own + 1 / dec)
    print(f"own forward (pre-decoded)      {own:7.2f} clips/s   [load {own_at}]")
    print(f"harness                        {har:7.2f} clips/s   [load {har_at}]")
    print(f"plain one-file loop            {plain:7.2f} clips/s   [load {plain_at}]")
    print(f"harness / min(own forward, decode x {workers}) = {har:.2f} / {bound:.2f} = {har / bound:.2f}x  (target >= 0.9x)")
    print(f"harness / own forward          {har / own:.2f}x")
    print(f"harness / plain loop           {har / plain:.2f}x")
    (small, small_at), (large, large_at) = peak_rss(args, args.memory_clips), peak_rss(args, 10 * args.memory_clips)
    print(f"peak RSS  {args.memory_clips} clips {small:.0f} MB [load {small_at}], {10 * args.memory_clips} clips "
          f"{large:.0f} MB [load {large_at}]: {large / small:.2f}x  (target: flat, ~1.0x)")


if __name__ == "__main__":
    main()
