"""Audio datasets on the Hugging Face hub (or saved locally by `datasets`), turned into files on disk.

Perception encoders read `Instance.source` as a path, so clips that live inside parquet/arrow rows are
written out once, under datasets_dir()/hub/<id>@<revision>/<split>/, with their original encoding
(bytes are never decoded and re-encoded here: `Audio(decode=False)` hands over the stored bytes).

`datasets` is an optional dependency (`pip install 'grounding-eval[hub]'`); nothing here imports it at
module load time.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from grounding_eval.errors import GroundingEvalError
from grounding_eval.paths import datasets_dir

AUDIO_COLUMNS = ("audio", "mp3", "wav", "flac", "ogg")
LABEL_COLUMNS = ("labels", "label", "tags", "class", "category")
ID_COLUMNS = ("fname", "id", "file_name", "filename", "clip_id")


def _datasets():
    try:
        import datasets  # optional (the hub extra), seconds to import: only when a hub dataset is read
    except ImportError:
        raise GroundingEvalError(
            "loading a hub dataset needs the `datasets` package: pip install 'grounding-eval[hub]'"
        ) from None
    return datasets


def is_saved_to_disk(path: str) -> bool:
    """A folder written by `Dataset.save_to_disk` / `DatasetDict.save_to_disk`."""
    p = Path(path)
    return p.is_dir() and ((p / "dataset_dict.json").is_file() or (p / "state.json").is_file())


@dataclass
class HubSource:
    """The splits of one hub dataset, with the columns that hold audio, labels and clip ids."""

    hub_id: str
    revision: str | None
    streaming: bool
    splits: dict[str, Any]  # split name -> datasets.Dataset or IterableDataset
    audio_column: str
    label_column: str
    id_column: str | None

    @property
    def cache_dir(self) -> Path:
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", self.hub_id.strip("/"))
        return datasets_dir() / "hub" / f"{safe}@{self.revision or 'default'}"

    def rows(self, split: str, with_audio: bool) -> Iterator[tuple[int, dict[str, Any]]]:
        """(row index, row) for one split; without audio only the label and id columns are read."""
        ds = self.splits[split]
        cols = [self.label_column] + ([self.id_column] if self.id_column else [])
        if with_audio:
            cols.append(self.audio_column)
        ds = ds.select_columns(cols)
        yield from enumerate(ds)

    def row(self, split: str, index: int) -> dict[str, Any]:
        """Random access to one row (map-style datasets only)."""
        return self.splits[split][int(index)]

    def clip_id(self, split: str, index: int, row: dict[str, Any]) -> str:
        raw = row.get(self.id_column) if self.id_column else None
        stem = Path(str(raw)).stem if raw not in (None, "") else f"row{index:07d}"
        return f"{split}/{stem}"

    def write_clip(self, split: str, index: int, row: dict[str, Any] | None = None) -> str:
        """Write one row's audio bytes to the cache folder (once) and return the file path."""
        if row is None:
            row = self.row(split, index)
        data, ext = audio_bytes(row[self.audio_column])
        stem = self.clip_id(split, index, row).split("/", 1)[1]
        target = self.cache_dir / split / f"{stem}{ext}"
        # A local folder keeps its name when its contents change: compare bytes, not just names.
        if target.is_file() and target.stat().st_size == len(data) and target.read_bytes() == data:
            return str(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return str(target)


def sniff_extension(data: bytes, fallback: str = "") -> str:
    """The file extension the bytes' magic number says (".wav", ".flac", ...), else `fallback`."""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return ".wav"
    if data[:4] == b"fLaC":
        return ".flac"
    if data[:4] == b"OggS":
        return ".ogg"
    if data[:3] == b"ID3" or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        return ".mp3"
    if data[:4] == b"FORM":
        return ".aiff"
    return fallback


def audio_bytes(value: Any) -> tuple[bytes, str]:
    """The stored bytes of an audio cell and their extension.

    Accepts an undecoded `Audio` cell ({"bytes", "path"}), raw bytes, or a list of uint8 (some mirrors
    store mp3 files that way).
    """
    path = None
    if isinstance(value, dict):
        path = value.get("path")
        data = value.get("bytes")
        if data is None and path and os.path.isfile(path):
            data = Path(path).read_bytes()
    elif isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
    elif isinstance(value, list):
        data = bytes(value)
    else:
        data = None
    if data is None:
        return b"", Path(path).suffix.lower() if path else ".wav"  # an empty file: reported as "empty"
    data = bytes(data)
    return data, sniff_extension(data, Path(path).suffix.lower() if path else ".bin")


def _pick(columns: Iterable[str], wanted: tuple[str, ...], given: str | None, what: str, hub_id: str) -> str | None:
    columns = list(columns)
    if given is not None:
        if given not in columns:
            raise GroundingEvalError(f"hub dataset {hub_id}: no {what} column {given!r}; its columns: {', '.join(columns)}")
        return given
    for name in wanted:
        if name in columns:
            return name
    return None


def open_hub(
    hub_id: str,
    revision: str | None = None,
    *,
    streaming: bool = False,
    splits: list[str] | None = None,
    audio_column: str | None = None,
    label_column: str | None = None,
    id_column: str | None = None,
    offline_hint: str = "",
) -> HubSource:
    """Open a hub dataset id (pinned to `revision`), a local folder of parquet/arrow files, or a
    `save_to_disk` folder, keeping `splits` (default: all) and finding the audio, label and id columns."""
    ds_lib = _datasets()
    try:
        if is_saved_to_disk(hub_id):
            loaded = ds_lib.load_from_disk(hub_id)
        else:
            loaded = ds_lib.load_dataset(hub_id, revision=revision, streaming=streaming)
    except ConnectionError:
        raise GroundingEvalError(
            f"hub dataset {hub_id}{'@' + revision if revision else ''} is not in the local Hugging Face cache and "
            f"the hub cannot be reached: connect to the internet{offline_hint}"
        ) from None
    except (FileNotFoundError, ValueError) as exc:
        raise GroundingEvalError(f"cannot load hub dataset {hub_id}: {' '.join(str(exc).split())[:300]}") from None
    except Exception as exc:  # datasets wraps hub errors in many types (DatasetNotFoundError, HfHubHTTPError, ...)
        first = " ".join(str(exc).split())[:300]
        raise GroundingEvalError(f"cannot load hub dataset {hub_id}: {type(exc).__name__}: {first}") from None
    if not hasattr(loaded, "keys"):  # a single Dataset saved to disk
        loaded = {"train": loaded}
    available = list(loaded.keys())
    chosen = available if not splits else list(splits)
    missing = [s for s in chosen if s not in available]
    if missing:
        raise GroundingEvalError(f"hub dataset {hub_id} has no split {missing[0]!r}; its splits: {', '.join(available)}")
    parts = {s: loaded[s] for s in chosen}
    first = next(iter(parts.values()))
    features = first.features or {}
    columns = list(features.keys()) if features else list(getattr(first, "column_names", None) or [])
    audio_typed = [c for c, f in features.items() if type(f).__name__ == "Audio"]
    audio = _pick(columns, tuple(audio_typed) + AUDIO_COLUMNS, audio_column, "audio", hub_id)
    label = _pick(columns, LABEL_COLUMNS, label_column, "label", hub_id)
    ident = _pick(columns, ID_COLUMNS, id_column, "clip id", hub_id)
    if audio is None or label is None:
        raise GroundingEvalError(
            f"hub dataset {hub_id}: cannot tell which columns hold the {'audio' if audio is None else 'labels'} "
            f"(columns: {', '.join(columns)}); pass audio_column=... and label_column=..."
        )
    if type(features.get(audio)).__name__ == "Audio":
        # Keep the stored bytes: decoding would need torchcodec and would change nothing we use.
        parts = {s: d.cast_column(audio, ds_lib.Audio(decode=False)) for s, d in parts.items()}
    return HubSource(hub_id, revision, streaming, parts, audio, label, ident)


def label_names(source: HubSource, value: Any) -> list[str]:
    """A label cell as a list of names: comma-separated text, a list of names, or ClassLabel integers."""
    feat = source.splits[next(iter(source.splits))].features.get(source.label_column)
    names = getattr(feat, "names", None) or getattr(getattr(feat, "feature", None), "names", None)

    def one(v: Any) -> str:
        if isinstance(v, int) and names:
            return names[v]
        return str(v).strip()

    if value is None:
        return []
    if isinstance(value, str):
        return [p.strip() for p in value.split(",") if p.strip()]
    if isinstance(value, (list, tuple)):
        return [one(v) for v in value if str(v).strip()]
    return [one(value)]
