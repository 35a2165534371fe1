"""Any HEAR 2021 module as an audio backbone: `hear:MODULE` (e.g. `hear:hear21passt.base`).

The HEAR API (https://hearbenchmark.com/hear-api.html): `MODULE.load_model(model_file_path="")` returns
a model with `sample_rate` and `scene_embedding_size`; `MODULE.get_scene_embeddings(audio, model)` maps
a (n_sounds, n_samples) float tensor at that rate to (n_sounds, scene_embedding_size). The API pads or
trims a batch to one length, which would tie a clip's vector to its neighbours, so clips are cut into
fixed windows (`window_seconds`, default 10 s, zero-padded at the end; `audio/windows.py`), batched
across clips and averaged per clip. Anything the module prints goes nowhere: HEAR modules tend to print.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import io
import warnings
from importlib import metadata
from typing import Any

from grounding_eval.audio.checkpoints import local_checkpoint, sha256_file
from grounding_eval.audio.torch_backbone import TorchAudioBackbone, TorchOptions
from grounding_eval.audio.windows import Windows
from grounding_eval.errors import GroundingEvalError

PREFIX = "hear:"
# A declared default: HEAR modules take any length, and 10 s is AudioSet's (most are trained on it).
WINDOW_SECONDS = 10.0


@contextlib.contextmanager
def _quiet():
    """HEAR modules print (models, shapes) and warn per clip; none of it is for the user."""
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", FutureWarning)
        yield


def _dist_version(module_name: str) -> str:
    top = module_name.split(".")[0]
    for dist in metadata.packages_distributions().get(top, []):
        try:
            return f"{dist}=={metadata.version(dist)}"
        except metadata.PackageNotFoundError:
            continue
    return "unknown"


def state_sha256(model: Any) -> str:
    """sha256 over a torch module's state (names, shapes, bytes): the weights' identity whatever their file."""
    import torch

    h = hashlib.sha256()
    for k, v in sorted(model.state_dict().items()):
        t = v.detach().cpu().contiguous()
        if t.dtype == torch.bfloat16:
            t = t.float()
        h.update(f"{k}:{tuple(t.shape)}:{t.dtype}\0".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


class HearOptions(TorchOptions):
    name: str = ""
    """hear:MODULE, the HEAR module to import (--audio-backbone hear:MODULE fills it in)"""
    checkpoint: str | None = None
    """a weights file passed to the module's load_model"""


class HearBackbone(TorchAudioBackbone):
    """A HEAR module's scene embeddings; options: checkpoint (passed to load_model), dtype, base keywords.

    The model is loaded when the backbone is created: its sample rate and weights (hashed from the
    loaded state, since HEAR modules fetch weights their own way) are needed for the cache key.
    """

    Options = HearOptions

    def __init__(self, **options: Any) -> None:
        opts = self.Options.check("hear:", options)
        full = opts.name
        self.module_name = full[len(PREFIX):] if full.startswith(PREFIX) else full
        if not self.module_name:
            raise GroundingEvalError("audio backbone 'hear:': name a HEAR module, e.g. --audio-backbone hear:hear21passt.base")
        self.name = PREFIX + self.module_name
        checkpoint = opts.checkpoint
        self.checkpoint = local_checkpoint(checkpoint, self.name) if checkpoint else None
        try:
            with _quiet():
                self.hear = importlib.import_module(self.module_name)
        except ImportError as exc:
            raise GroundingEvalError(
                f"audio backbone {self.name!r}: cannot import HEAR module {self.module_name!r} ({exc}); pip install the package that provides it"
            ) from None
        for fn in ("load_model", "get_scene_embeddings"):
            if not callable(getattr(self.hear, fn, None)):
                raise GroundingEvalError(f"audio backbone {self.name!r}: {self.module_name} has no {fn}(); it does not follow the HEAR API")
        try:
            with _quiet():
                model = self.hear.load_model(str(self.checkpoint)) if self.checkpoint else self.hear.load_model()
        except GroundingEvalError:
            raise
        except Exception as exc:  # a HEAR module's own download or load failure, in one line
            msg = " ".join(str(exc).split())[:300]
            raise GroundingEvalError(
                f"audio backbone {self.name!r}: {self.module_name}.load_model() failed ({type(exc).__name__}: {msg}); "
                f"offline, put its weights where the module looks for them or pass --backbone-args checkpoint=PATH"
            ) from None
        self.sample_rate = int(model.sample_rate)
        self.embedding_dim = int(getattr(model, "scene_embedding_size", 0))
        super().__init__(opts)
        self._windows = Windows(self.window_samples(WINDOW_SECONDS), self.sample_rate, "zero-padded at the end")
        self._model = model
        self._weights = sha256_file(self.checkpoint) if self.checkpoint else state_sha256(model)

    def backbone_identity(self) -> dict[str, Any]:
        return {
            "backbone": self.name,
            "module": self.module_name,
            "package": _dist_version(self.module_name),
            "weights_sha256": self._weights,
            "embedding": "get_scene_embeddings",
            **self.precision_identity(),
        }

    def windows(self) -> Windows:
        return self._windows

    def load(self) -> Any:
        return self._model

    def forward(self, module: Any, batch: Any, lengths: list[int]) -> Any:
        with _quiet():
            return self.hear.get_scene_embeddings(batch, module)
