"""Fixed-length windows: how clips of any length fill every forward of a batched backbone.

A network is run on windows of one fixed length (its training input, e.g. PaSST's and CNN14's 10 s), so
that windows of different clips stack into one batch without any clip being padded to its neighbours:
a clip's vector never depends on the batch it lands in, and every forward holds `batch_size` windows
whatever the clip lengths (only the very last forward of a run may hold fewer).

Windowing policy (the same for every windowed backbone, stated in its identity):
- a clip no longer than one window is one window; the backbone brings it to the window length the way
  its model was trained (zero-padding at the end, or its feature extractor's own padding);
- a longer clip is cut into ceil(length / window) full windows: at 0, w, 2w, ..., and the last one ends
  at the clip's end (overlapping the one before it), so no window of a long clip holds padding;
- the clip's vector is the mean of its windows' vectors, taken in window order (exact, batch-free).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import numpy as np


@dataclass(frozen=True)
class Windows:
    """A backbone's window length (samples at its rate) and what a shorter clip becomes."""

    samples: int
    sample_rate: int
    short_clips: str  # e.g. "zero-padded at the end", "AST's extractor pads the filterbank frames"

    def cut(self, wave: np.ndarray) -> list[np.ndarray]:
        """The clip's windows (views, unpadded): one if it fits, else ceil(n / w) full windows."""
        n, w = int(wave.shape[0]), self.samples
        if n <= w:
            return [wave]
        k = -(-n // w)
        starts = [i * w for i in range(k - 1)] + [n - w]
        return [wave[s : s + w] for s in starts]

    def identity(self) -> dict[str, object]:
        return {
            "seconds": round(self.samples / self.sample_rate, 6),
            "samples": self.samples,
            "longer_clips": "ceil(n/w) windows, hop w, the last ending at the clip's end",
            "shorter_clips": self.short_clips,
            "pooling": "mean over windows",
        }


def pad_windows(segments: list[np.ndarray], samples: int) -> tuple[np.ndarray, list[int]]:
    """Stack windows into a zero-padded (B, samples) float32 array and their valid lengths."""
    out = np.zeros((len(segments), samples), dtype=np.float32)
    lengths = []
    for i, s in enumerate(segments):
        out[i, : s.shape[0]] = s
        lengths.append(int(s.shape[0]))
    return out, lengths


def windowed_vectors(
    clips: Iterable[np.ndarray],
    windows: Windows,
    run: Callable[[list[np.ndarray]], np.ndarray],
    batch_size: int,
) -> Iterator[np.ndarray]:
    """One vector per clip, in clip order, running `run` on exactly `batch_size` windows at a time.

    Windows of consecutive clips share forwards (a clip's windows may straddle two), so forwards stay
    full whatever the lengths; a clip's vector is yielded as soon as its last window has run. Memory
    holds at most one forward's windows plus one clip's.
    """
    queue: deque[tuple[int, np.ndarray]] = deque()
    parts: dict[int, list[np.ndarray]] = {}
    need: dict[int, int] = {}
    next_out = 0

    def forward(n: int) -> None:
        items = [queue.popleft() for _ in range(n)]
        vecs = np.asarray(run([seg for _, seg in items]), dtype=np.float32)
        for (clip, _), v in zip(items, vecs):
            parts[clip].append(v)

    def finished() -> Iterator[np.ndarray]:
        nonlocal next_out
        while next_out in need and len(parts[next_out]) == need[next_out]:
            vecs = parts.pop(next_out)
            del need[next_out]
            yield vecs[0] if len(vecs) == 1 else np.mean(np.stack(vecs), axis=0, dtype=np.float32)
            next_out += 1

    for i, wave in enumerate(clips):
        segments = windows.cut(wave)
        need[i], parts[i] = len(segments), []
        queue.extend((i, s) for s in segments)
        while len(queue) >= batch_size:
            forward(batch_size)
            yield from finished()
    while queue:
        forward(min(batch_size, len(queue)))
        yield from finished()
