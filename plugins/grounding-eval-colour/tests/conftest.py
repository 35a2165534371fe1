"""Fixtures for the colour plugin's tests: an isolated cache, fresh plugin registries, first-party plugins only."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("GROUNDING_EVAL_PLUGINS", "colour")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(autouse=True)
def _colour_isolated_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("GROUNDING_EVAL_CACHE", str(tmp_path_factory.getbasetemp() / "ge-cache"))
    yield


@pytest.fixture(autouse=True)
def _colour_fresh_plugins():
    from grounding_eval import plugins

    plugins.reset()
    yield
    plugins.reset()
