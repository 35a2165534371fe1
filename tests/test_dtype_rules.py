"""dtype=auto, one rule (grounding_eval/devices.py) for the audio backbones, the text models and the generator,
judged by the GPU the model runs on (issue 17 item 7). No GPU here: torch.cuda's answers are mocked; each
GPU-side load stops where transformers would be handed the dtype."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

import pytest
import torch
import transformers
from packaging.version import Version
from tiny_audio_models import save_tiny

from grounding_eval import devices
from grounding_eval.check_backbone import make_backbone
from grounding_eval.kinds.generative.generators import HFCausalLMGenerator
from grounding_eval.text.hf import HFTextEncoder

# compute capability -> what auto means there: bf16 only where the GPU has it in hardware (Ampere, 8.0+)
GPUS = {"V100": ((7, 0), "fp32"), "T4": ((7, 5), "fp32"), "A100": ((8, 0), "bf16"), "H100": ((9, 0), "bf16")}


class Loaded(Exception):
    """Raised where transformers would load the weights: the dtype it was given is what the test reads."""


def fake_gpus(monkeypatch, capability: tuple[int, int], count: int = 1) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    # True on a T4 or V100 too (bf16 emulated, slowly): the rule must not ask it.
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)


@pytest.fixture(scope="module")
def tiny_hubert(tmp_path_factory):
    return save_tiny("hubert", tmp_path_factory.mktemp("hubert"))


def text_dtype(monkeypatch, model: str, **args) -> torch.dtype:
    seen = {}

    def build(self, auto_cls, path, kwargs):
        seen.update(kwargs)
        raise Loaded

    monkeypatch.setattr(HFTextEncoder, "_build", build)
    with pytest.raises(Loaded):
        HFTextEncoder(model, **args)
    return seen["dtype"]


def generator_dtype(monkeypatch, model: str, **args) -> torch.dtype:
    seen = {}

    def load(*a, **kwargs):
        seen.update(kwargs)
        raise Loaded

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", load)
    with pytest.raises(Loaded):
        HFCausalLMGenerator(model, **args)
    return seen["dtype"]


@pytest.mark.parametrize("gpu", list(GPUS))
def test_auto_on_a_gpu_is_judged_by_its_compute_capability_alike_for_audio_text_and_generator(
        gpu, monkeypatch, tiny_hubert, tiny_bert):
    capability, want = GPUS[gpu]
    fake_gpus(monkeypatch, capability)
    audio = make_backbone("hubert", {"model": tiny_hubert, "device": "cuda", "num_workers": 0})
    assert audio.dtype == want and audio.precision_identity() == {"dtype": want}
    assert text_dtype(monkeypatch, tiny_bert, device="cuda") == devices.torch_dtype(want)
    assert generator_dtype(monkeypatch, tiny_bert, device="cuda") == devices.torch_dtype(want)


def test_auto_on_the_cpu_is_fp32_everywhere_even_beside_a_bf16_gpu(monkeypatch, tiny_hubert, tiny_bert):
    fake_gpus(monkeypatch, (9, 0))
    assert make_backbone("hubert", {"model": tiny_hubert, "device": "cpu", "num_workers": 0}).dtype == "fp32"
    assert text_dtype(monkeypatch, tiny_bert, device="cpu") == torch.float32
    assert generator_dtype(monkeypatch, tiny_bert, device="cpu") == torch.float32


def test_explicit_dtypes_are_kept_and_long_spellings_read_as_short(monkeypatch, tiny_bert):
    fake_gpus(monkeypatch, (7, 5))
    assert devices.resolve_dtype("bfloat16", ["cuda"]) == "bf16" and devices.resolve_dtype("fp16", ["cpu"]) == "fp16"
    assert text_dtype(monkeypatch, tiny_bert, device="cuda", dtype="fp16") == torch.float16


def test_a_sharded_model_takes_bf16_only_when_every_gpu_has_it(monkeypatch, tiny_bert):
    """device_map spreads the weights over every visible GPU: one pre-Ampere card among them means fp32."""
    fake_gpus(monkeypatch, (8, 0), count=2)
    assert text_dtype(monkeypatch, tiny_bert, device_map="auto") == torch.bfloat16
    caps = {0: (8, 6), 1: (7, 5)}
    monkeypatch.setattr(torch.cuda, "get_device_capability",
                        lambda device=None: caps[int(str(device).rsplit(":", 1)[1])])
    assert devices.model_devices("cuda", "auto") == ["cuda:0", "cuda:1"]
    assert text_dtype(monkeypatch, tiny_bert, device_map="auto") == torch.float32
    # No GPU visible: a device map places everything on the CPU, in fp32.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert devices.auto_dtype(devices.model_devices("cpu", "auto")) == "fp32"


def test_the_transformers_floor_takes_dtype_and_the_installed_one_meets_it():
    """from_pretrained(dtype=...) (what text, audio and the generator pass) needs transformers 4.56."""
    text = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    floor = Version(re.search(r'"transformers>=([0-9.]+)"', text).group(1))
    assert floor >= Version("4.56")
    assert Version(metadata.version("transformers")) >= floor
