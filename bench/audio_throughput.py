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

    python bench/audio_throughput.py --long-clip [--long-seconds 3600] [--max-seconds 10] [--long-formats wav,flac,ogg]

  long clip (issue 24)   one --long-seconds file of noise (wav, flac, ogg; written once into --workdir), loaded
                         with max_seconds at 16 kHz in a fresh child process per clip and crop policy: wall time
                         and peak RSS (ru_maxrss) of that child, with the load average; run it under
                         PYTHONPATH=<old checkout> for the figures before bounded decoding.

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


def real_clips(n: int | None = None) -> list[str]:
    """The offline default's recordings (distro_sounds, built from the installed Debian packages), all of
    them or cycled to n."""
    from grounding_eval import plugins

    ds = plugins.registries().datasets.get("distro_sounds").obj()
    files = [inst.source for inst in ds.instances]
    return files if n is None else [files[i % len(files)] for i in range(n)]


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


def decode_rates(clips: list[str], repeats: int) -> dict[int, tuple[float, float, float, str]]:
    """Per worker, at each backbone rate: clips/s of decode + resample in wall time and in CPU time (what
    one idle core would do: robust to other jobs on a shared machine), audio seconds/s (CPU), load."""
    from grounding_eval.audio.pipeline import Decoder

    out = {}
    for rate in RATES:
        dec = Decoder(rate, None, 0.0, "center")
        seconds = sum(dec(c).shape[0] for c in clips) / rate
        r, at = best_rate(lambda: [dec(c) for c in clips] and None, len(clips), repeats)
        cpu = min(_cpu_seconds(lambda: [dec(c) for c in clips]) for _ in range(repeats))
        out[rate] = (r, len(clips) / cpu, seconds / cpu, at)
    return out


def _cpu_seconds(fn) -> float:
    t = time.process_time()
    fn()
    return time.process_time() - t


def fsd50k_format(clips: list[str], folder: Path) -> list[str]:
    """Copies of the clips in FSD50K's storage format: 44.1 kHz, 16-bit PCM, mono wav (decode cost differs
    from ogg's)."""
    import soundfile as sf

    from grounding_eval.audio.io import load_audio

    out = []
    for i, c in enumerate(clips):
        path = folder / f"{i}.wav"
        sf.write(path, load_audio(c, 44100), 44100, subtype="PCM_16")
        out.append(str(path))
    return out


def speed(args: argparse.Namespace) -> dict:
    from grounding_eval.audio.pipeline import usable_cores

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
    s = np.array(res["seconds"])
    print(f"backbone {args.backbone}, {args.clips} real clips (distro_sounds, {s.min():.2f}-{s.max():.2f} s, "
          f"median {np.median(s):.2f} s), batch size {args.batch_size}, {bb.num_workers} decoding worker(s), "
          f"{usable_cores()} CPU cores, torch threads {__import__('torch').get_num_threads()}", flush=True)
    res["own_forward"] = best_rate(own_forward, len(clips), args.repeats)
    print(f"own forward (pre-decoded)      {res['own_forward'][0]:7.2f} clips/s   [load {res['own_forward'][1]}]", flush=True)
    before = getattr(bb, "forward_count", 0)
    res["harness"] = best_rate(lambda: bb.embed(clips), len(clips), args.repeats)
    print(f"harness                        {res['harness'][0]:7.2f} clips/s   [load {res['harness'][1]}]", flush=True)
    if windowed:
        forwards = (bb.forward_count - before) / args.repeats
        res["clips_per_forward"] = len(clips) / forwards
        res["windows_per_forward"] = len(segments) / forwards
        res["windows"] = len(segments)
        print(f"clips per forward              {res['clips_per_forward']:7.2f}  (windows per forward "
              f"{res['windows_per_forward']:.2f}, {len(segments)} windows; target >= {0.9 * args.batch_size:.1f})", flush=True)
    res["plain_loop"] = best_rate(lambda: np.concatenate([bb.embed_waveforms([dec(c)]) for c in clips]),
                                  len(clips), 1)
    print(f"plain one-file loop            {res['plain_loop'][0]:7.2f} clips/s   [load {res['plain_loop'][1]}]", flush=True)
    res["decode"] = best_rate(lambda: [dec(c) for c in clips] and None, len(clips), args.repeats)
    print(f"decode only (one process)      {res['decode'][0]:7.2f} clips/s   [load {res['decode'][1]}]", flush=True)
    return res


def forwards_on_all_clips(args: argparse.Namespace) -> None:
    """Clips per forward over every distro_sounds clip at this batch size, now (windows batched across
    clips: every forward but the last is full, checked by the tests) and with the old equal-length groups."""
    bb = make_backbone(args.backbone, args.batch_size, 0, Path(args.workdir))
    waves = bb.decode(real_clips())
    n = len(waves)
    windows = sum(len(bb.windows().cut(w)) for w in waves)
    now = -(-windows // args.batch_size)
    before = sum(len({len(w) for w in waves[s : s + args.batch_size]}) for s in range(0, n, args.batch_size))
    print(f"all {n} distro_sounds clips, batch size {args.batch_size}: {windows} windows in {now} forwards = "
          f"{n / now:.2f} clips ({windows / now:.2f} windows) per forward; equal-length groups (before): "
          f"{before} forwards = {n / before:.2f} clips per forward   [load {load()}]", flush=True)


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


def long_clip_files(seconds: float, workdir: Path) -> list[str]:
    """A `seconds`-long 44.1 kHz stereo noise file as wav, flac and ogg (written once, in blocks)."""
    import soundfile as sf

    out = []
    for ext, sub in (("wav", "PCM_16"), ("flac", "PCM_16"), ("ogg", "VORBIS")):
        path = workdir / f"noise_{int(seconds)}s.{ext}"
        out.append(str(path))
        if path.exists():
            continue
        rng = np.random.default_rng(0)
        tmp = path.with_suffix(".part." + ext)
        with sf.SoundFile(tmp, "w", 44100, 2, subtype=sub, format=ext.upper()) as f:
            for s in range(0, int(seconds * 44100), 44100):  # 1 s blocks: larger vorbis writes crash libsndfile 1.2.2
                n = min(44100, int(seconds * 44100) - s)
                f.write((rng.standard_normal((n, 2)) * 0.1).astype(np.float32))
        os.replace(tmp, path)
    return out


def long_child(args: argparse.Namespace) -> None:
    """One load_audio of --long-path in this (fresh) process: its wall time and peak RSS."""
    import grounding_eval
    from grounding_eval.audio.io import load_audio

    t = time.perf_counter()
    wave = load_audio(args.long_path, 16000, max_seconds=args.max_seconds, crop=args.crop)
    took = time.perf_counter() - t
    print(json.dumps({"seconds": took, "samples": int(wave.shape[0]), "peak_rss_mb":
                      resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "module": grounding_eval.__file__}))


def long_clip(args: argparse.Namespace) -> None:
    files = long_clip_files(args.long_seconds, Path(args.workdir))
    print(f"one {args.long_seconds:.0f} s noise clip (44.1 kHz stereo) -> 16 kHz, max_seconds {args.max_seconds}, "
          f"a fresh process per clip", flush=True)
    for path in files:
        if Path(path).suffix[1:] not in args.long_formats.split(","):
            continue
        for crop in ("center", "start"):
            cmd = [sys.executable, __file__, "--long-child", "--long-path", path, "--crop", crop,
                   "--max-seconds", str(args.max_seconds), "--workdir", args.workdir]
            before = os.getloadavg()[0]
            r = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])
            print(f"  {Path(path).suffix[1:]:>4} crop={crop:<6} {r['seconds']:8.2f} s  peak RSS {r['peak_rss_mb']:7.0f} MB  "
                  f"{r['samples']} samples   [load {before:.2f} -> {os.getloadavg()[0]:.2f}]  ({r['module']})", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backbone", default="panns")
    p.add_argument("--clips", type=int, default=48)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--memory-clips", type=int, default=16, help="N for the memory test (N and 10 N)")
    p.add_argument("--decode-only", action="store_true", help="only the decode rates (every clip, every rate)")
    p.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "ge-bench-audio"))
    p.add_argument("--count-forwards", action="store_true", help="only clips per forward over every clip")
    p.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--long-clip", action="store_true", help="time and peak RSS of cropping one long file")
    p.add_argument("--long-seconds", type=float, default=3600.0)
    p.add_argument("--max-seconds", type=float, default=10.0)
    p.add_argument("--long-formats", default="wav,flac,ogg", help="which of the long files to load")
    p.add_argument("--long-child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--long-path", help=argparse.SUPPRESS)
    p.add_argument("--crop", default="center", help=argparse.SUPPRESS)
    args = p.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    if args.memory_child:
        memory_child(args)
        return
    if args.long_child:
        long_child(args)
        return
    if args.long_clip:
        long_clip(args)
        return
    from grounding_eval.audio.pipeline import usable_cores

    if args.count_forwards:
        forwards_on_all_clips(args)
        return
    if args.decode_only:
        clips = real_clips()
        print(f"decode + resample only, one process, the {len(clips)} distro_sounds clips ({usable_cores()} cores)")
        for rate, (r, cpu, secs, at) in decode_rates(clips, args.repeats).items():
            print(f"  {rate:>5} Hz: {r:6.1f} clips/s wall, {cpu:6.1f} clips/s per busy core (CPU time) = {secs:6.1f} s "
                  f"of audio per s   [load {at}]")
        with tempfile.TemporaryDirectory() as tmp:
            wavs = fsd50k_format(clips, Path(tmp))
            r, cpu, secs, at = decode_rates(wavs, args.repeats)[32000]
            print(f"  as FSD50K stores them (44.1 kHz 16-bit PCM wav) -> 32 kHz: {r:6.1f} clips/s wall, {cpu:6.1f} per busy "
                  f"core = {secs:6.1f} s of audio per s   [load {at}]")
        return
    r = speed(args)
    workers = int(r["num_workers"])
    dec = r["decode"][0]
    own, har, plain = r["own_forward"][0], r["harness"][0], r["plain_loop"][0]
    bound = min(own, dec * workers) if workers else 1 / (1 / own + 1 / dec)
    print(f"harness / min(own forward, decode x {workers}) = {har:.2f} / {bound:.2f} = {har / bound:.2f}x  (target >= 0.9x)")
    print(f"harness / own forward          {har / own:.2f}x")
    print(f"harness / plain loop           {har / plain:.2f}x", flush=True)
    (small, small_at), (large, large_at) = peak_rss(args, args.memory_clips), peak_rss(args, 10 * args.memory_clips)
    print(f"peak RSS  {args.memory_clips} clips {small:.0f} MB [load {small_at}], {10 * args.memory_clips} clips "
          f"{large:.0f} MB [load {large_at}]: {large / small:.2f}x  (target: flat, ~1.0x)")


if __name__ == "__main__":
    main()
