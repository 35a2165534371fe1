"""PaSST as a grounding-eval audio backbone, built from hear21passt's own model code.

The network, its mel front end and its published AudioSet checkpoints are hear21passt's; we build them
the way `hear21passt.base.get_basic_model` does, but load the weights ourselves so that a local
checkpoint can be given, the download goes to the same place timm would put it
($TORCH_HOME/hub/checkpoints/<basename>), offline use fails in one line, and hear21passt's prints (the
whole model, the shapes of the first forward) never reach the user's stdout.

Every forward takes 10 s windows (PaSST's AudioSet training input; `window_seconds` may shorten it): a
clip up to 10 s is one window, zero-padded at the end as PaSST's AudioSet training pads short clips; a
longer clip is cut into ceil(n / 10 s) windows, the last one ending at the clip's end; the windows'
scene embeddings are averaged (`grounding_eval/audio/windows.py`). Windows of different clips share a
forward, so batches are full whatever the clip lengths.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from importlib import metadata
from pathlib import Path
from typing import Annotated, Any, Iterator, Literal

from pydantic import Field

from grounding_eval.audio.backbone import Number
from grounding_eval.audio.checkpoints import build_from_checkpoint, fetch_published, local_checkpoint, sha256_file
from grounding_eval.audio.torch_backbone import TorchAudioBackbone, TorchOptions
from grounding_eval.audio.windows import Windows
from grounding_eval.errors import GroundingEvalError
from grounding_eval.validation import Valid

SAMPLE_RATE = 32000
# The input length PaSST was trained on (its time position embedding covers no more).
WINDOW_SECONDS = 10.0
# The AudioSet-trained 10 s PaSST variants hear21passt publishes (arch name -> what it is).
ARCHS = {
    "passt_s_swa_p16_128_ap476": "PaSST-S, SWA, mAP .476 (hear21passt.base's default)",
    "passt_s_kd_p16_128_ap486": "PaSST-S with knowledge distillation, mAP .486",
    "passt_l_kd_p16_128_ap47": "PaSST-L with knowledge distillation, mAP .47",
}
# embedding -> (wrapper mode, width)
EMBEDDINGS = {"embed": ("embed_only", 768), "all": ("all", 527 + 768), "logits": ("logits", 527)}
INSTALL_HINT = "audio backbone 'passt' needs hear21passt: pip install grounding-eval-passt (or hear21passt timm torchaudio)"


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """hear21passt prints the whole model when it builds and tensor shapes on its first forward, and warns
    on every clip shorter than 10 s (which it handles by cutting its time position embedding)."""
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", FutureWarning)
        yield


def _passt_modules() -> tuple[Any, Any, Any]:
    try:
        with quiet():
            from hear21passt.models import passt
            from hear21passt.models.preprocess import AugmentMelSTFT
            from hear21passt.wrapper import PasstBasicWrapper
    except ImportError as exc:
        raise GroundingEvalError(f"{INSTALL_HINT} ({type(exc).__name__}: {exc})") from None
    return passt, AugmentMelSTFT, PasstBasicWrapper


def published_checkpoint(arch: str) -> tuple[str, Path]:
    """(url, where timm's download_cached_file keeps it) for an arch's published weights."""
    import torch

    passt, _, _ = _passt_modules()
    url = passt.default_cfgs[arch]["url"]
    return url, Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name


def build(arch: str, mode: str, state_dict: dict[str, Any] | None) -> Any:
    """hear21passt's wrapper (mel front end + PaSST) as base.get_basic_model builds it, weights loaded."""
    passt, AugmentMelSTFT, PasstBasicWrapper = _passt_modules()
    with quiet():
        mel = AugmentMelSTFT(n_mels=128, sr=SAMPLE_RATE, win_length=800, hopsize=320, n_fft=1024, freqm=48,
                             timem=192, htk=False, fmin=0.0, fmax=None, norm=1, fmin_aug_range=10,
                             fmax_aug_range=2000)
        net = passt.get_model(arch=arch, pretrained=False)
    if state_dict is not None:
        # The package's own filter: old linear patch embeddings become convolutions, 'model' unwrapped.
        net.load_state_dict(passt.checkpoint_filter_fn(state_dict, net))
    return PasstBasicWrapper(mel=mel, net=net, mode=mode)


class PasstOptions(TorchOptions):
    arch: Literal[tuple(ARCHS)] = "passt_s_swa_p16_128_ap476"
    """which published PaSST"""
    embedding: Literal[tuple(EMBEDDINGS)] = "embed"
    """which output of the scene head"""
    checkpoint: str | None = None
    """a local checkpoint (default: the published one of `arch`, downloaded once)"""
    # PaSST's 16x16 patches need 16+ frames (0.16 s); very short clips are zero-padded to 1 s (only
    # matters with window_seconds < 1: windows are zero-padded to their length anyway).
    min_seconds: Annotated[Number, Field(ge=0), Valid(">= 0")] = 1.0
    """zero-pad shorter clips to this many seconds"""


class PasstBackbone(TorchAudioBackbone):
    """PaSST scene embeddings; options: arch, embedding, checkpoint, dtype and the base keywords."""

    name = "passt"
    sample_rate = SAMPLE_RATE
    Options = PasstOptions
    # hear21passt's mel front end in fp32: its own autocast guard covers only the mel matmul and only on
    # CUDA; the pre-emphasis conv and the power spectrum would run in fp16 (a loud window overflows).
    FRONT_END = ("mel",)

    def __init__(self, **options: Any) -> None:
        opts = self.Options.check(self.name, options)
        arch, embedding, checkpoint = opts.arch, opts.embedding, opts.checkpoint
        super().__init__(opts)
        self._windows = Windows(self.window_samples(WINDOW_SECONDS, WINDOW_SECONDS), SAMPLE_RATE, "zero-padded at the end")
        self.arch, self.embedding = arch, embedding
        self.embedding_dim = EMBEDDINGS[embedding][1]
        # Resolve the weights now: a missing file is a one-line error before any clip is decoded.
        if checkpoint:
            self.checkpoint = local_checkpoint(checkpoint, self.name)
        else:
            url, dest = published_checkpoint(arch)
            self.checkpoint = fetch_published(url, dest, self.name)

    def backbone_identity(self) -> dict[str, Any]:
        return {
            "backbone": "passt",
            "hear21passt_version": _version("hear21passt"),
            "arch": self.arch,
            "checkpoint_sha256": sha256_file(self.checkpoint),
            "embedding": self.embedding,
            "pooling": "PaSST cls+dist tokens (per window), mean over windows",
            **self.precision_identity(),
        }

    def windows(self) -> Windows:
        return self._windows

    def load(self) -> Any:
        return build_from_checkpoint(self.checkpoint, self.name,
                                     lambda state: build(self.arch, EMBEDDINGS[self.embedding][0], state))

    def forward(self, module: Any, batch: Any, lengths: list[int]) -> Any:
        with quiet():  # windows are at most 10 s: one PaSST forward each
            return module.get_scene_embeddings(batch)


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "unknown"
