"""`grounding-eval cache ls|rm|export|import`: a pack made on one machine lets another run the task without
embedding a single instance (only the language model runs), and a bad pack changes nothing."""

from __future__ import annotations

import io
import json
import tarfile


from grounding_eval import evaluate
from test_plugins_and_cli import PlantedBackbone, toy_plugin  # noqa: F401 - the fixture is used by name
from cli_helpers import run_cli

TASK = "toy_planted_probe"


def test_pack_moves_perception_embeddings_so_only_the_text_model_runs(toy_plugin, tiny_bert, tmp_path, capsys, monkeypatch):
    a, b = tmp_path / "cache-a", tmp_path / "cache-b"
    first = evaluate(tiny_bert, TASK, show_progress=False, cache_dir=str(a))
    pack = tmp_path / "pack.tar"
    code, out, err = run_cli(["cache", "--cache-dir", str(a), "export", str(pack), "--task", TASK], capsys)
    assert code == 0, err
    assert "36 planted_backbone embeddings" in out
    code, out, err = run_cli(["cache", "--cache-dir", str(b), "import", str(pack)], capsys)
    assert code == 0, err
    assert "36 planted_backbone embeddings" in out and "(0 were already there)" in out

    def refuse(*_a, **_k):
        raise AssertionError("the perception encoder was asked to embed although the pack had everything")

    monkeypatch.setattr(PlantedBackbone, "embed", refuse)
    second = evaluate(tiny_bert, TASK, show_progress=False, cache_dir=str(b))
    assert second["tasks"][TASK]["cache"]["perception"] == {"cached": 36, "computed": 0}
    assert second["tasks"][TASK]["cache"]["text"]["computed"] > 0  # the language model did run
    assert second["results"] == first["results"]
    # Importing again is harmless and says so.
    code, out, _ = run_cli(["cache", "--cache-dir", str(b), "import", str(pack)], capsys)
    assert code == 0 and "(36 were already there)" in out


def test_export_without_the_embeddings_is_one_line(toy_plugin, tmp_path, capsys):
    code, _, err = run_cli(["cache", "--cache-dir", str(tmp_path / "empty"), "export", str(tmp_path / "p.tar"),
                            "--task", TASK], capsys)
    assert code == 2 and "36 of 36 planted_backbone embeddings" in err and err.count("\n") == 1
    assert not (tmp_path / "p.tar").exists()


def _tar(path, members: dict[str, bytes]):
    with tarfile.open(path, "w") as tar:
        for name, blob in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))


def test_bad_packs_are_refused_and_write_nothing(toy_plugin, tiny_bert, tmp_path, capsys):
    a = tmp_path / "cache-a"
    evaluate(tiny_bert, TASK, show_progress=False, cache_dir=str(a))
    good = tmp_path / "good.tar"
    run_cli(["cache", "--cache-dir", str(a), "export", str(good), "--task", TASK], capsys)
    with tarfile.open(good) as t:
        members = {m.name: t.extractfile(m).read() for m in t.getmembers()}
    manifest = json.loads(members["manifest.json"])
    target = tmp_path / "cache-b"

    lying = dict(members, **{"manifest.json": json.dumps(dict(manifest, n_items=99)).encode()})
    _tar(tmp_path / "lying.tar", lying)
    code, _, err = run_cli(["cache", "--cache-dir", str(target), "import", str(tmp_path / "lying.tar")], capsys)
    assert code == 2 and "field n_items" in err and err.count("\n") == 1

    traversal = dict(members, **{"manifest.json": json.dumps(dict(manifest, cache_key="../../escape")).encode(),
                                 "../../escape/meta.json": b"{}"})
    _tar(tmp_path / "traversal.tar", traversal)
    code, _, err = run_cli(["cache", "--cache-dir", str(target), "import", str(tmp_path / "traversal.tar")], capsys)
    assert code == 2 and "field cache_key" in err
    (tmp_path / "junk.tar").write_bytes(b"not a tar at all")
    code, _, err = run_cli(["cache", "--cache-dir", str(target), "import", str(tmp_path / "junk.tar")], capsys)
    assert code == 2 and "not a tar file" in err
    assert not target.exists() and not (tmp_path / "escape").exists()

    good.with_name("truncated.tar").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    code, _, err = run_cli(["cache", "--cache-dir", str(target), "import", str(tmp_path / "truncated.tar")], capsys)
    assert code == 2 and err.count("\n") == 1 and "truncated.tar" in err
    nameless = dict(members, **{"manifest.json": json.dumps({k: v for k, v in manifest.items() if k != "backbone"}).encode()})
    _tar(tmp_path / "nameless.tar", nameless)
    code, _, err = run_cli(["cache", "--cache-dir", str(target), "import", str(tmp_path / "nameless.tar")], capsys)
    assert code == 2 and "field backbone" in err
    assert not target.exists()


def test_ls_and_rm(toy_plugin, tiny_bert, tmp_path, capsys):
    cache = tmp_path / "c"
    evaluate(tiny_bert, TASK, show_progress=False, cache_dir=str(cache))
    code, out, _ = run_cli(["cache", "--cache-dir", str(cache), "ls"], capsys)
    keys = sorted(p.name for p in cache.iterdir() if p.name != "probe-runs")  # the finished runs: not a configuration
    assert code == 0 and len(keys) == 2 and all(k[:16] in out for k in keys)
    assert "planted_backbone" in out and "36" in out
    code, _, err = run_cli(["cache", "--cache-dir", str(cache), "rm", "zz"], capsys)
    assert code == 2 and "nothing in" in err and "matches zz" in err
    code, out, _ = run_cli(["cache", "--cache-dir", str(cache), "rm", keys[0][:10]], capsys)
    assert code == 0 and f"removed {keys[0][:16]}" in out
    assert sorted(p.name for p in cache.iterdir() if p.name != "probe-runs") == keys[1:]
    # a damaged shard and a foreign meta.json: ls still lists, rm works past an interrupted rm's trash
    (cache / keys[1] / "shard-damaged.npz").write_bytes(b"")
    (cache / keys[1] / "meta.json").write_text("[]")
    (cache / f".rm-{keys[1]}").mkdir()
    code, out, _ = run_cli(["cache", "--cache-dir", str(cache), "ls"], capsys)
    assert code == 0 and keys[1][:16] in out
    code, out, _ = run_cli(["cache", "--cache-dir", str(cache), "rm", keys[1][:10]], capsys)
    assert code == 0 and [p.name for p in cache.iterdir()] == ["probe-runs"]
