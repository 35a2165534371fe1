"""The set-level scores as Hugging Face `evaluate` modules (`evaluate.load(path)` on the folders the package
ships) give the harness's own numbers, to 1e-9, on real embeddings: aisfx vectors of fluidsynth notes."""

from __future__ import annotations

import numpy as np
import pytest

from grounding_eval import embedding, plugins
from grounding_eval.kinds.generative.distances import fad_inf, kad, median_bandwidth, per_class_kad
from grounding_eval.kinds.generative.evaluate_modules import MODULES, module_path
from grounding_eval.tasks.manager import TaskManager

evaluate = pytest.importorskip("evaluate")  # the test extra installs it; the harness itself never needs it

TASK = """task: notes_for_evaluate
include: notes_generative.yaml
dataset: {name: notes, args: {instruments: [Piano, Flute, Trumpet, Organ], notes: [C4, E4, G4, A4, C5], include_recordings: false}}
"""


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """aisfx vectors (the tasks' embedder) of 20 real sampled notes, and their instruments."""
    root = tmp_path_factory.mktemp("tasks")
    (root / "t.yaml").write_text(TASK)
    cfg = TaskManager([str(root)]).get("notes_for_evaluate")
    regs = plugins.registries()
    inst = embedding.build_instances("notes_for_evaluate", cfg, regs)
    enc = embedding.perception_encoder("notes_for_evaluate", cfg, regs, "cpu")
    vecs = np.asarray(enc.embed(inst.instances), np.float64)
    names = [c.name for c in inst.dataset.concepts]
    return vecs, np.array([names.index(i.concept) for i in inst.instances])


def test_fad_module_gives_the_harness_numbers(real):
    vecs, concept = real
    gen, ref = vecs[concept < 2], vecs[concept >= 2]  # two instruments' notes against the two others'
    fad = evaluate.load(module_path("fad"))
    got = fad.compute(predictions=[gen], references=[ref])
    want = fad_inf(gen, ref, seed=0)
    assert got["n_generated"] == want["n_generated"] == 10 and got["n_reference"] == 10
    assert abs(got["fad"] - want["fad"]) < 1e-9 and abs(got["fad_inf"] - want["fad_inf"]) < 1e-9
    assert got["fad"] > 1.0  # other instruments: far from 0
    # Streamed in chunks (add_batch) and with another seed: the same as the function with that seed.
    fad.add_batch(predictions=[gen[:4]], references=[ref[:7]])
    fad.add_batch(predictions=[gen[4:]], references=[ref[7:]])
    assert abs(fad.compute(seed=3)["fad_inf"] - fad_inf(gen, ref, seed=3)["fad_inf"]) < 1e-9


def test_kad_module_gives_the_harness_numbers_pooled_and_per_class(real):
    vecs, concept = real
    gen, ref = vecs[::2], vecs[1::2]  # every instrument on both sides
    kad_module = evaluate.load(module_path("kad"))
    pooled = kad_module.compute(predictions=[gen], references=[ref])
    assert abs(pooled["kad"] - kad(gen, ref, median_bandwidth(ref))) < 1e-9
    per = kad_module.compute(predictions=[gen], references=[ref], predictions_classes=concept[::2].tolist(),
                             references_classes=concept[1::2].tolist())
    want = per_class_kad(gen, concept[::2], ref, concept[1::2])
    assert abs(per["kad"] - np.mean(list(want.values()))) < 1e-9  # the results' kad: the mean over concepts
    assert {int(k): v for k, v in per["kad_per_class"].items()} == pytest.approx(want, abs=1e-9)
    # Other instruments' references score worse than the same instrument's: a distance, not a constant.
    wrong = kad_module.compute(predictions=[gen], references=[ref], predictions_classes=concept[::2].tolist(),
                               references_classes=((concept[1::2] + 1) % 4).tolist())
    assert wrong["kad"] > per["kad"]
    with pytest.raises(ValueError, match="one label per row"):
        kad_module.compute(predictions=[gen], references=[ref], predictions_classes=[0], references_classes=[0])


def test_every_module_folder_holds_its_script():
    for name in MODULES:
        assert (module_path(name) + f"/{name}.py") and __import__("os").path.isfile(f"{module_path(name)}/{name}.py")
    with pytest.raises(ValueError, match="valid: fad, kad"):
        module_path("fid")
