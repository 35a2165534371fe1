"""FSD50K: official layout, hub-style copies, hierarchy, selection rules, names and errors."""

from __future__ import annotations

import csv
import shutil
from collections import Counter
from pathlib import Path

import pytest

from grounding_eval.data import fsd50k
from grounding_eval.data.fsd50k import build_fsd50k, infer_hierarchy, readable_name
from grounding_eval.data.synthetic import ancestors, family, leaves, write_fsd50k_layout, write_hub_copy, write_ontology
from grounding_eval.errors import GroundingEvalError

# The 200 FSD50K class labels (its vocabulary.csv), to check that every prompt override names a real class.
FSD50K_LABELS = frozenset("""
Accelerating_and_revving_and_vroom Accordion Acoustic_guitar Aircraft Alarm Animal Applause Bark Bass_drum Bass_guitar
Bathtub_(filling_or_washing) Bell Bicycle Bicycle_bell Bird Bird_vocalization_and_bird_call_and_bird_song
Boat_and_Water_vehicle Boiling Boom Bowed_string_instrument Brass_instrument Breathing Burping_and_eructation Bus Buzz
Camera Car Car_passing_by Cat Chatter Cheering Chewing_and_mastication Chicken_and_rooster Child_speech_and_kid_speaking
Chime Chink_and_clink Chirp_and_tweet Chuckle_and_chortle Church_bell Clapping Clock Coin_(dropping) Computer_keyboard
Conversation Cough Cowbell Crack Crackle Crash_cymbal Cricket Crow Crowd Crumpling_and_crinkling Crushing
Crying_and_sobbing Cupboard_open_or_close Cutlery_and_silverware Cymbal Dishes_and_pots_and_pans Dog
Domestic_animals_and_pets Domestic_sounds_and_home_sounds Door Doorbell Drawer_open_or_close Drill Drip Drum Drum_kit
Electric_guitar Engine Engine_starting Explosion Fart Female_singing Female_speech_and_woman_speaking Fill_(with_liquid)
Finger_snapping Fire Fireworks Fixed-wing_aircraft_and_airplane Fowl Frog Frying_(food) Gasp Giggle Glass Glockenspiel
Gong Growling Guitar Gull_and_seagull Gunshot_and_gunfire Gurgling Hammer Hands Harmonica Harp Hi-hat Hiss
Human_group_actions Human_voice Idling Insect Keyboard_(musical) Keys_jangling Knock Laughter Liquid
Livestock_and_farm_animals_and_working_animals Male_singing Male_speech_and_man_speaking Mallet_percussion
Marimba_and_xylophone Mechanical_fan Mechanisms Meow Microwave_oven Motor_vehicle_(road) Motorcycle Music
Musical_instrument Ocean Organ Packing_tape_and_duct_tape Percussion Piano Plucked_string_instrument Pour Power_tool
Printer Purr Race_car_and_auto_racing Rail_transport Rain Raindrop Ratchet_and_pawl Rattle Rattle_(instrument)
Respiratory_sounds Ringtone Run Sawing Scissors Scratching_(performance_technique) Screaming Screech Shatter Shout Sigh
Singing Sink_(filling_or_washing) Siren Skateboard Slam Sliding_door Snare_drum Sneeze Speech Speech_synthesizer
Splash_and_splatter Squeak Stream Strum Subway_and_metro_and_underground Tabla Tambourine Tap Tearing Telephone
Thump_and_thud Thunder Thunderstorm Tick Tick-tock Toilet_flush Tools Traffic_noise_and_roadway_noise Train
Trickle_and_dribble Truck Trumpet Typewriter Typing Vehicle Vehicle_horn_and_car_horn_and_honking Walk_and_footsteps
Water Water_tap_and_faucet Waves_and_surf Whispering Whoosh_and_swoosh_and_swish Wild_animals Wind Wind_chime
Wind_instrument_and_woodwind_instrument Wood Writing Yell Zipper_(clothing)
""".split())


@pytest.fixture(scope="module")
def fsd_root(tmp_path_factory) -> Path:
    return write_fsd50k_layout(tmp_path_factory.mktemp("fsd") / "FSD50K").root


def test_vocabulary_list_is_the_200_classes() -> None:
    from grounding_eval.data import fsd50k

    assert len(FSD50K_LABELS) == 200 == fsd50k.OFFICIAL_COUNTS["classes"]  # the test's list and the code's count


def test_readable_names_and_prompt_table() -> None:
    assert readable_name("Chewing_and_mastication") == "chewing and mastication"
    assert readable_name("Motor_vehicle_(road)") == "motor vehicle road"
    table = fsd50k.prompt_table()
    assert set(table) <= FSD50K_LABELS, set(table) - FSD50K_LABELS
    assert table["Bark"] == ("bark", ("dog bark", "dog barking"))
    assert table["Motor_vehicle_(road)"][0] == "road motor vehicle"
    # Every class gets a distinct prompt text, or two concepts would share a text vector.
    texts = [fsd50k.concept_for(lbl, None).text for lbl in FSD50K_LABELS]
    assert len(set(texts)) == 200, [t for t, n in Counter(texts).items() if n > 1]


def test_official_layout_leaves_parents_and_single_label(fsd_root: Path) -> None:
    ds = build_fsd50k(root=str(fsd_root))
    assert sorted(ds.concept_names()) == sorted(leaves())
    by = {c.name: c for c in ds.concepts}
    assert by["Bark"].parent == "Animal" and by["Piano"].parent == "Music" and by["Knock"].parent == family("Knock")
    assert by["Bark"].aliases == ("dog bark", "dog barking")
    assert by["Car_passing_by"].text == "car passing by"
    # 4 dev + 2 eval single-label clips per leaf; the 3 two-leaf clips and 2 intermediate-only clips are left out.
    assert Counter(i.concept for i in ds.instances) == {leaf: 6 for leaf in leaves()}
    assert ds.provenance["clips_left_out_by_selection"] == {"several labels": 3, "no label in the class set": 2}
    assert all(Path(i.source).is_file() and len(i.content_hash) == 64 for i in ds.instances)
    assert ds.skipped == []


def test_selection_rules_and_class_sets(fsd_root: Path) -> None:
    single = build_fsd50k(root=str(fsd_root), clip_selection="single_label")
    leafsel = build_fsd50k(root=str(fsd_root), clip_selection="leaf_labels")
    anysel_all = build_fsd50k(root=str(fsd_root), clip_selection="any_label", class_set="all")
    assert len(leafsel.instances) == len(single.instances) + 2 * 3  # each two-leaf clip counts for both
    two_leaf = [i for i in leafsel.instances if "#" in i.id and len([x for x in i.meta["labels"] if x in leaves()]) == 2]
    assert len(two_leaf) == 6 and len({i.content_hash for i in two_leaf}) == 3
    # class_set=all with any_label: every class in the tree, ancestors get all their descendants' clips.
    counts = Counter(i.concept for i in anysel_all.instances)
    assert counts["Animal"] == sum(counts[leaf] for leaf in leaves() if family(leaf) == "Animal") - 1  # one two-leaf clip counted once
    assert counts["Dog"] > counts["Bark"]
    single_all = build_fsd50k(root=str(fsd_root), clip_selection="single_label", class_set="all")
    # The intermediate-only clips stand for their intermediate class; families without such clips are dropped.
    extra = set(single_all.concept_names()) - set(leaves())
    assert extra == {"Domestic_animals_and_pets", "Dog"}
    assert "Animal" in single_all.provenance["dropped_classes"]


def test_cap_per_class_is_seeded(fsd_root: Path) -> None:
    a = build_fsd50k(root=str(fsd_root), max_clips_per_class=2, seed=1)
    b = build_fsd50k(root=str(fsd_root), max_clips_per_class=2, seed=1)
    c = build_fsd50k(root=str(fsd_root), max_clips_per_class=2, seed=2)
    assert Counter(i.concept for i in a.instances) == {leaf: 2 for leaf in leaves()}
    assert [i.id for i in a.instances] == [i.id for i in b.instances]
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()


def test_splits(fsd_root: Path) -> None:
    ev = build_fsd50k(root=str(fsd_root), splits="eval")
    dev = build_fsd50k(root=str(fsd_root), splits=["dev"])
    val = build_fsd50k(root=str(fsd_root), splits="val")
    assert {i.meta["split"] for i in ev.instances} == {"eval"} and len(ev.instances) == 2 * 22
    assert {i.meta["split"] for i in dev.instances} == {"train", "val"} and len(dev.instances) == 4 * 22
    assert {i.meta["split"] for i in val.instances} == {"val"}
    with pytest.raises(GroundingEvalError, match="unknown split 'test'; valid: train, val, eval, dev"):
        build_fsd50k(root=str(fsd_root), splits="test")


def test_ontology_gives_the_same_tree(fsd_root: Path, tmp_path: Path) -> None:
    onto = write_ontology(tmp_path / "ontology.json")
    a = build_fsd50k(root=str(fsd_root))
    b = build_fsd50k(root=str(fsd_root), ontology=str(onto))
    assert a.fingerprint() == b.fingerprint()
    assert [c.parent for c in a.concepts] == [c.parent for c in b.concepts]
    assert b.provenance["hierarchy"].startswith("ontology:") and a.provenance["hierarchy"] == "data"


def test_hierarchy_inference_on_planted_labels() -> None:
    clips = [("Bark", "Dog", "Animal"), ("Growling", "Dog", "Animal"), ("Dog", "Animal"), ("Meow", "Cat", "Animal"),
             ("Meow", "Cat", "Animal"), ("Piano", "Music")]
    h = infer_hierarchy(clips, ["Animal", "Dog", "Cat", "Bark", "Growling", "Meow", "Music", "Piano"])
    assert h.leaves() == ["Bark", "Growling", "Meow", "Piano"]
    assert h.ancestors["Bark"] == {"Dog", "Animal"}
    # Cat and Meow have the same clips: the one listed later (Cat) is taken as the ancestor.
    assert h.ancestors["Meow"] == {"Cat", "Animal"} and "Meow" not in h.ancestors["Cat"]
    assert h.top["Bark"] == "Animal" and h.top["Piano"] == "Music" and h.top["Animal"] is None
    assert h.most_specific(["Bark", "Growling", "Dog", "Animal"]) == ["Bark", "Growling"]


@pytest.mark.parametrize("fmt,streaming", [("parquet", False), ("parquet", True), ("arrow", False)])
def test_hub_style_copies_load_to_the_same_clips(fsd_root: Path, tmp_path: Path, monkeypatch, fmt, streaming) -> None:
    pytest.importorskip("datasets")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    hub = write_hub_copy(fsd_root, tmp_path / f"hub-{fmt}", fmt)
    official = build_fsd50k(root=str(fsd_root))
    ds = build_fsd50k(hub_id=str(hub), streaming=streaming)
    assert ds.concept_names() == official.concept_names()
    assert [c.parent for c in ds.concepts] == [c.parent for c in official.concepts]
    pairs = sorted((i.concept, i.content_hash) for i in ds.instances)
    assert pairs == sorted((i.concept, i.content_hash) for i in official.instances)
    assert all(Path(i.source).is_file() for i in ds.instances)
    capped = build_fsd50k(hub_id=str(hub), streaming=streaming, splits="test", max_clips_per_class=1)
    assert Counter(i.concept for i in capped.instances) == {leaf: 1 for leaf in leaves()}


def test_hub_id_offline_is_one_line(monkeypatch, tmp_path: Path) -> None:
    pytest.importorskip("datasets")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(GroundingEvalError) as err:
        build_fsd50k(hub_id="mteb/fsd50k_mini", revision="a574eeb10bb11d28eff83dd522151028d529551d")
    msg = str(err.value)
    assert "\n" not in msg and "connect to the internet" in msg and "FSD50K.ground_truth/" in msg


def test_missing_root_says_where_to_put_the_data(tmp_path: Path) -> None:
    with pytest.raises(GroundingEvalError) as err:
        build_fsd50k()
    msg = str(err.value)
    assert "\n" not in msg and "zenodo.org/records/4060432" in msg and str(fsd50k.default_root()) in msg


def test_bad_ground_truth_names_file_line_and_field(fsd_root: Path, tmp_path: Path) -> None:
    bad = tmp_path / "FSD50K"
    shutil.copytree(fsd_root, bad)
    dev = bad / fsd50k.GROUND_TRUTH / "dev.csv"
    rows = list(csv.reader(dev.open()))
    rows[3][1] = "Bark,Dgo"
    with dev.open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    with pytest.raises(GroundingEvalError, match=r"dev.csv line 4: label 'Dgo' is not in vocabulary.csv"):
        build_fsd50k(root=str(bad))
    dev.write_text("fname,labels\n1,Bark\n")
    with pytest.raises(GroundingEvalError, match=r"dev.csv: no column 'mids'"):
        build_fsd50k(root=str(bad))
    with pytest.raises(GroundingEvalError, match="clip_selection 'first' is not valid; choose from single_label"):
        build_fsd50k(root=str(fsd_root), clip_selection="first")


def test_broken_clip_is_skipped_and_an_emptied_class_fails(fsd_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "FSD50K"
    shutil.copytree(fsd_root, root)
    ds = build_fsd50k(root=str(root))
    bark = sorted((i for i in ds.instances if i.concept == "Bark"), key=lambda i: i.id)
    Path(bark[0].source).write_bytes(b"")
    Path(bark[1].source).write_bytes(b"not a wav file at all")
    Path(bark[2].source).unlink()
    ds2 = build_fsd50k(root=str(root))
    reasons = {s.id: s.reason for s in ds2.skipped}
    assert reasons[bark[0].id] == "empty (0 bytes)"
    assert reasons[bark[1].id].startswith("unreadable (")
    assert reasons[bark[2].id] == "missing"
    assert ds2.provenance["skipped_by_reason"] == {"empty": 1, "missing": 1, "unreadable": 1}
    assert sum(i.concept == "Bark" for i in ds2.instances) == 3
    for inst in bark[3:]:
        Path(inst.source).unlink()
    with pytest.raises(GroundingEvalError, match=r"class 'Bark' has no usable clip \(1 empty, 4 missing, 1 unreadable\)"):
        build_fsd50k(root=str(root))


def test_ancestor_helpers_match_the_csv(fsd_root: Path) -> None:
    rows = list(csv.DictReader((fsd_root / fsd50k.GROUND_TRUTH / "dev.csv").open()))
    first = rows[0]["labels"].split(",")
    assert first[1:] == ancestors(first[0])
