"""Every layout loads to the same concepts-and-clips form; broken files are skipped and named.

The same clips (generated tones and real freedesktop recordings) are written in each layout: FSD50K
official, hub-style parquet, ESC-50, UrbanSound8K, audiofolder and CSV manifest.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from grounding_eval.cli import main
from grounding_eval.data.clips import ClipCheck, inspect_file
from grounding_eval.data.folds import build_esc50, build_urbansound8k
from grounding_eval.data.fsd50k import build_fsd50k
from grounding_eval.data.local import build_audiofolder, build_csv_manifest
from grounding_eval.errors import GroundingEvalError

FREEDESKTOP = Path("/usr/share/sounds/freedesktop/stereo")
# Real recordings grouped by what they are (labels for this test only).
REAL = {
    "Speech": ["audio-channel-front-left", "audio-channel-front-right", "audio-channel-rear-left"],
    "Telephone": ["phone-incoming-call", "phone-outgoing-busy", "phone-outgoing-calling"],
}
TONES = {"Whistle": 880.0, "Hum": 110.0}  # generated classes: a pure tone each, 3 clips at jittered pitch


def tone(freq: float, seconds: float = 0.6, rate: int = 16000, amp: float = 0.4) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, list[Path]]:
    """label -> wav files: generated tones and real recordings decoded from .oga to wav."""
    if not FREEDESKTOP.is_dir():
        pytest.fail("sound-theme-freedesktop is not installed: run bash .ci/install")
    out = tmp_path_factory.mktemp("clips")
    result: dict[str, list[Path]] = {}
    for label, names in REAL.items():
        for name in names:
            data, rate = sf.read(FREEDESKTOP / f"{name}.oga", dtype="float32")
            sf.write(out / f"{name}.wav", data, rate)
            result.setdefault(label, []).append(out / f"{name}.wav")
    for label, freq in TONES.items():
        for k in range(3):
            path = out / f"{label.lower()}{k}.wav"
            sf.write(path, tone(freq * (1 + 0.05 * k)), 16000)
            result.setdefault(label, []).append(path)
    return result


def _form(ds) -> dict[str, list[str]]:
    """The concepts-and-clips form compared across layouts: concept -> sorted content hashes."""
    out: dict[str, list[str]] = {}
    for inst in ds.instances:
        assert Path(inst.source).is_file()
        out.setdefault(inst.concept, []).append(inst.content_hash)
    assert set(out) == set(ds.concept_names())
    return {k: sorted(v) for k, v in out.items()}


def _expected(clips) -> dict[str, list[str]]:
    import hashlib

    return {lbl: sorted(hashlib.sha256(p.read_bytes()).hexdigest() for p in ps) for lbl, ps in clips.items()}


def write_audiofolder(clips, root: Path) -> Path:
    for label, paths in clips.items():
        (root / label).mkdir(parents=True, exist_ok=True)
        for p in paths:
            shutil.copy(p, root / label / p.name)
    return root


def write_manifest(clips, root: Path) -> Path:
    (root / "audio").mkdir(parents=True)
    with open(root / "manifest.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "label", "note"])
        for label, paths in clips.items():
            for p in paths:
                shutil.copy(p, root / "audio" / p.name)
                w.writerow([f"audio/{p.name}", label, ""])
    return root / "manifest.csv"


def write_esc50(clips, root: Path) -> Path:
    (root / "meta").mkdir(parents=True)
    (root / "audio").mkdir()
    with open(root / "meta" / "esc50.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["filename", "fold", "target", "category", "esc10", "src_file", "take"])
        for t, (label, paths) in enumerate(clips.items()):
            for k, p in enumerate(paths):
                name = f"{k % 5 + 1}-{100 + k}-A-{t}.wav"
                shutil.copy(p, root / "audio" / name)
                w.writerow([name, k % 5 + 1, t, label, "True" if t == 0 else "False", 100 + k, "A"])
    return root


def write_urbansound(clips, root: Path) -> Path:
    (root / "metadata").mkdir(parents=True)
    with open(root / "metadata" / "UrbanSound8K.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["slice_file_name", "fsID", "start", "end", "salience", "fold", "classID", "class"])
        for t, (label, paths) in enumerate(clips.items()):
            for k, p in enumerate(paths):
                fold = k % 10 + 1
                name = f"{1000 + k}-{t}-0-{k}.wav"
                (root / "audio" / f"fold{fold}").mkdir(parents=True, exist_ok=True)
                shutil.copy(p, root / "audio" / f"fold{fold}" / name)
                w.writerow([name, 1000 + k, 0.0, 0.6, 1 + k % 2, fold, t, label])
    return root


def write_fsd50k_official(clips, root: Path) -> Path:
    gt = root / "FSD50K.ground_truth"
    gt.mkdir(parents=True)
    (root / "FSD50K.dev_audio").mkdir()
    (root / "FSD50K.eval_audio").mkdir()
    labels = list(clips)
    with open(gt / "vocabulary.csv", "w", newline="") as f:
        csv.writer(f).writerows([i, lbl, f"/t/x{i}"] for i, lbl in enumerate(labels))
    dev, ev, fname = [], [], 1000
    for i, (label, paths) in enumerate(clips.items()):
        for k, p in enumerate(paths):
            fname += 1
            target = "FSD50K.eval_audio" if k == 0 else "FSD50K.dev_audio"
            shutil.copy(p, root / target / f"{fname}.wav")
            (ev if k == 0 else dev).append([fname, label, f"/t/x{i}"] + ([] if k == 0 else ["train"]))
    with open(gt / "dev.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["fname", "labels", "mids", "split"])
        w.writerows(dev)
    with open(gt / "eval.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["fname", "labels", "mids"])
        w.writerows(ev)
    return root


def test_every_layout_loads_to_the_same_form(clips, tmp_path: Path, monkeypatch) -> None:
    expected = _expected(clips)
    forms = {
        "audiofolder": _form(build_audiofolder(str(write_audiofolder(clips, tmp_path / "folder")))),
        "csv_manifest": _form(build_csv_manifest(str(write_manifest(clips, tmp_path / "manifest")))),
        "esc50": _form(build_esc50(str(write_esc50(clips, tmp_path / "esc50")))),
        "urbansound8k": _form(build_urbansound8k(str(write_urbansound(clips, tmp_path / "us8k")))),
        "fsd50k": _form(build_fsd50k(str(write_fsd50k_official(clips, tmp_path / "FSD50K")))),
    }
    pytest.importorskip("datasets")
    from grounding_eval.data.synthetic import write_hub_copy

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    hub = write_hub_copy(tmp_path / "FSD50K", tmp_path / "hub", "parquet")
    forms["fsd50k hub parquet"] = _form(build_fsd50k(hub_id=str(hub)))
    for layout, form in forms.items():
        assert form == expected, layout


def test_prompt_texts_and_options(clips, tmp_path: Path) -> None:
    root = write_audiofolder(clips, tmp_path / "folder")
    (root / "dog_bark").mkdir()
    sf.write(root / "dog_bark" / "a.flac", tone(300), 16000)
    sf.write(root / "dog_bark" / "b.ogg", tone(320), 16000)
    ds = build_audiofolder(str(root))
    by = {c.name: c for c in ds.concepts}
    assert by["dog_bark"].text == "dog bark"
    prompts = tmp_path / "prompts.csv"
    prompts.write_text("label,text,aliases\ndog_bark,a dog barking,bark|woof\n")
    ds2 = build_audiofolder(str(root), prompts=str(prompts), max_clips_per_class=2, seed=3)
    c = {c.name: c for c in ds2.concepts}["dog_bark"]
    assert (c.text, c.aliases) == ("a dog barking", ("bark", "woof"))
    assert Counter(i.concept for i in ds2.instances) == {k: 2 for k in by}
    esc = build_esc50(str(write_esc50(clips, tmp_path / "esc50")), folds=[1, 2])
    assert {i.meta["fold"] for i in esc.instances} == {1, 2}
    assert build_esc50(str(tmp_path / "esc50"), esc10_only=True).concept_names() == [next(iter(clips))]
    us = build_urbansound8k(str(write_urbansound(clips, tmp_path / "us8k")), salience=1)
    assert len(us.instances) == sum((len(v) + 1) // 2 for v in clips.values())
    with pytest.raises(GroundingEvalError, match="fold '6' is not valid; choose from 1 to 5"):
        build_esc50(str(tmp_path / "esc50"), folds=[6])


def test_folder_of_20_with_corrupt_empty_and_non_audio_files(tmp_path: Path) -> None:
    root = tmp_path / "mine"
    for k in range(20):
        label = ["whistle", "hum", "buzz", "chirp"][k % 4]
        (root / label).mkdir(parents=True, exist_ok=True)
        sf.write(root / label / f"clip{k:02d}.wav", tone(200 + 40 * k), 16000)
    (root / "hum" / "corrupt.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt garbage that is not a wave file")
    (root / "buzz" / "empty.wav").write_bytes(b"")
    (root / "chirp" / "notes.txt").write_text("recorded on Tuesday\n")
    (root / "whistle" / ".DS_Store").write_bytes(b"\0\0")  # hidden: ignored, not reported
    ds = build_audiofolder(str(root))
    assert len(ds.instances) == 20 and len(ds.concepts) == 4
    reasons = {s.id: s.reason for s in ds.skipped}
    assert set(reasons) == {"hum/corrupt.wav", "buzz/empty.wav", "chirp/notes.txt"}
    assert reasons["hum/corrupt.wav"].startswith("unreadable (")
    assert reasons["buzz/empty.wav"] == "empty (0 bytes)"
    assert reasons["chirp/notes.txt"] == "not an audio file (extension '.txt')"
    assert ds.provenance["skipped_by_reason"] == {"empty": 1, "not an audio file": 1, "unreadable": 1}


def test_silent_and_too_short_clips(tmp_path: Path) -> None:
    root = tmp_path / "mine"
    for label, freq in (("a", 400), ("b", 450)):
        (root / label).mkdir(parents=True)
        sf.write(root / label / "ok.wav", tone(freq), 16000)
    sf.write(root / "a" / "silent.wav", np.zeros(16000, dtype=np.float32), 16000)
    sf.write(root / "b" / "short.wav", tone(400, seconds=0.05), 16000)
    ds = build_audiofolder(str(root), min_seconds=0.1)
    reasons = {s.id: s.reason for s in ds.skipped}
    assert reasons == {"a/silent.wav": "silent (peak below -60 dBFS)", "b/short.wav": "too short (0.050 s < 0.1 s)"}
    kept = build_audiofolder(str(root), silence_db=None)  # the thresholds are options
    assert {i.id for i in kept.instances} == {"a/ok.wav", "a/silent.wav", "b/ok.wav", "b/short.wav"}
    # Only a class with no usable clip at all stops the run, naming it and why.
    (root / "c").mkdir()
    (root / "c" / "x.wav").write_bytes(b"")
    with pytest.raises(GroundingEvalError, match=r"audiofolder: class 'c' has no usable clip \(1 empty\)"):
        build_audiofolder(str(root))


def test_real_oga_and_other_encodings_load_directly(tmp_path: Path) -> None:
    root = tmp_path / "enc"
    (root / "real").mkdir(parents=True)
    for name in ("bell", "complete", "message"):
        shutil.copy(FREEDESKTOP / f"{name}.oga", root / "real")
    (root / "gen").mkdir()
    sf.write(root / "gen" / "a.flac", tone(500), 16000)
    sf.write(root / "gen" / "b.ogg", tone(600), 16000, format="OGG", subtype="VORBIS")
    sf.write(root / "gen" / "c.wav", tone(700), 22050)
    ds = build_audiofolder(str(root))
    assert Counter(i.concept for i in ds.instances) == {"real": 3, "gen": 3} and not ds.skipped
    assert inspect_file(str(root / "real" / "bell.oga"), ClipCheck()).seconds > 0


def test_bad_inputs_are_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "m.csv"
    bad.write_text("file,label\na.wav,x\n")
    with pytest.raises(GroundingEvalError, match=r"m.csv: no column 'path' \(columns: file, label\); set path_column"):
        build_csv_manifest(str(bad))
    with pytest.raises(GroundingEvalError, match=r"csv_manifest: class 'x' has no usable clip \(1 missing\)"):
        build_csv_manifest(str(bad), path_column="file")
    with pytest.raises(GroundingEvalError, match="esc50 not found at .* download esc50 from https://github.com/karolpiczak/ESC-50"):
        build_esc50(str(tmp_path / "nowhere"))
    with pytest.raises(GroundingEvalError, match="urbansound8k not found"):
        build_urbansound8k(str(tmp_path / "nowhere"))
    with pytest.raises(GroundingEvalError, match="root .* is not a folder"):
        build_audiofolder(str(tmp_path / "nowhere"))


def test_a_replaced_clip_with_the_old_size_and_mtime_is_checked_again(tmp_path: Path) -> None:
    """cp -p / rsync -t keep size and mtime: the verdict cache must still see new content."""
    for n, label in enumerate(("hum", "buzz", "tick")):
        (tmp_path / "af" / label).mkdir(parents=True)
        sf.write(tmp_path / "af" / label / "a.wav", np.sin(np.arange(8000) * 0.05 * (1 + n)), 16000)
    first = build_audiofolder(str(tmp_path / "af"))
    clip = tmp_path / "af" / "hum" / "a.wav"
    st = clip.stat()
    sf.write(clip, np.sin(np.arange(8000) * 0.31), 16000)  # same length and format: same byte size
    os.utime(clip, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert clip.stat().st_size == st.st_size and clip.stat().st_mtime_ns == st.st_mtime_ns
    second = build_audiofolder(str(tmp_path / "af"))
    hashes = lambda ds: {i.concept: i.content_hash for i in ds.instances}  # noqa: E731
    assert hashes(second)["hum"] != hashes(first)["hum"] and hashes(second)["buzz"] == hashes(first)["buzz"]
    assert first.fingerprint() != second.fingerprint()


@pytest.mark.parametrize("args, message", [
    ("bogus=1", r"--args.bogus: unknown arg of dataset audiofolder; valid: root, max_clips_per_class"),
    ("max_clip_per_class=3", r"did you mean 'max_clips_per_class'\?"),
    ("max_clips_per_class=abc", r"--args.max_clips_per_class must be an integer or null, got 'abc' \(dataset audiofolder\)"),
    ("check_audio=maybe", r"--args.check_audio must be true or false, got 'maybe'"),
    ("root=5", r"--args.root must be a string, got 5"),
])
def test_dataset_args_are_checked_against_the_builder(tmp_path: Path, capsys, args: str, message: str) -> None:
    """Any arg a builder does not take, or of a type its signature does not allow: one line, exit 2."""
    (tmp_path / "af" / "rain").mkdir(parents=True)
    root = "" if args.startswith("root=") else f"root={tmp_path / 'af'},"
    with pytest.raises(SystemExit) as exc:
        main(["datasets", "audiofolder", "--args", root + args])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err
    assert re.search(message, err), err


def test_datasets_command_lists_sources_and_counts(clips, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("GROUNDING_EVAL_CACHE", str(tmp_path / "cache"))
    write_esc50(clips, tmp_path / "cache" / "datasets" / "ESC-50")  # the default root
    monkeypatch.setenv("COLUMNS", "300")
    with pytest.raises(SystemExit) as code:
        main(["datasets"])
    out = capsys.readouterr().out
    assert code.value.code == 0
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if line.count("│") > 3}
    for name in ("audiofolder", "csv_manifest", "distro_sounds", "esc50", "fsd50k", "urbansound8k"):
        assert name in rows, name
    assert "51197 (official)" in rows["fsd50k"] and "144 leaves" in rows["fsd50k"]
    assert "meta/esc50.csv at" in rows["esc50"] and "│ 12 " in rows["esc50"] and "│ 4 " in rows["esc50"]
    assert "408 labelled" in rows["distro_sounds"] and "61 with >= 3 clips" in rows["distro_sounds"]
    # With a name, it builds the dataset and names what was skipped.
    folder = write_audiofolder(clips, tmp_path / "folder")
    (folder / "Hum" / "broken.wav").write_bytes(b"")
    with pytest.raises(SystemExit):
        main(["datasets", "audiofolder", "--args", f"root={folder}"])
    out = capsys.readouterr().out
    assert "4 classes, 12 clips, 1 skipped" in out and "Hum/broken.wav" in out and "empty (0 bytes)" in out


def test_skipped_files_reach_the_results_json(clips, tiny_bert, tmp_path: Path, monkeypatch, capsys) -> None:
    folder = write_audiofolder(clips, tmp_path / "folder")
    (folder / "Hum" / "broken.wav").write_bytes(b"not audio")
    (tmp_path / "tasks").mkdir()
    # Includes resolve next to the including file, so the shipped base goes beside the user's task.
    shutil.copy(Path(__file__).parents[1] / "tasks" / "_audio_probe_base.yaml", tmp_path / "tasks")
    (tmp_path / "tasks" / "my_folder.yaml").write_text(
        "include: _audio_probe_base.yaml\ntask: my_folder_probe\nversion: 1\n"
        f"dataset:\n  name: audiofolder\n  args: {{root: {folder}}}\nperception_encoder:\n  name: logmel\n"
        "num_runs: 2\ncontrols: []\nsplit:\n  train_fraction: 0.5\n")
    out = tmp_path / "res.json"
    with pytest.raises(SystemExit) as code:
        main(["--model", tiny_bert, "--task", "my_folder_probe", "--include-path", str(tmp_path / "tasks"),
              "--output-path", str(out), "--quiet"])
    assert code.value.code == 0, capsys.readouterr().err
    res = json.loads(out.read_text())
    ds = res["tasks"]["my_folder_probe"]["dataset"]
    assert ds["n_instances"] == 12 and ds["n_concepts"] == 4
    assert ds["skipped"] == [{"id": "Hum/broken.wav", "reason": ds["skipped"][0]["reason"]}]
    assert ds["skipped"][0]["reason"].startswith("unreadable (")
    assert ds["provenance"]["skipped_by_reason"] == {"unreadable": 1}
