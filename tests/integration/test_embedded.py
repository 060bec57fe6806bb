"""The real embedded model: conversion, reload fidelity, capture and the cache command."""

import json
import os
import subprocess
import sys
import time

import pytest
import torch
from mechanic import store
from mechanic.tools import embedded_model_dir, load_subject
from mechanic.tools.subject import _embedded_gguf, _load_gguf


def test_convert_and_cache_matches_gguf_logits(tmp_path, monkeypatch):
    monkeypatch.setenv("MECHANIC_HOME", str(tmp_path))
    t0 = time.perf_counter()
    path = embedded_model_dir()
    assert path.is_relative_to(tmp_path) and (path / "config.json").is_file()
    assert not json.loads((path / "config.json").read_text()).get("quantization_config")
    t1 = time.perf_counter()
    subject = load_subject()
    reload_seconds = time.perf_counter() - t1
    assert reload_seconds < 10, f"reload took {reload_seconds:.1f}s (conversion took {t1 - t0:.1f}s)"
    assert (subject.n_layers, subject.d_model, subject.d_mlp, subject.n_heads) == (30, 576, 1536, 9)

    gguf_model, tokenizer = _load_gguf(_embedded_gguf(), torch.float32)
    ids = tokenizer("The capital of France is Paris. def main():", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        expected = gguf_model(input_ids=ids).logits
        got = subject.model(input_ids=ids).logits
    assert torch.allclose(got, expected, atol=1e-4), (got - expected).abs().max()
    assert subject.tokenizer("hello world")["input_ids"] == tokenizer("hello world")["input_ids"]


def test_capture_a_few_neurons_on_real_text(embedded):
    from mechanic.tools import CaptureConfig, capture, corpus_windows

    windows = corpus_windows(embedded.tokenizer, "default", n_tokens=2048, length=64, seed=0)
    cap = capture(embedded, ["mlp:5:0", "mlp:5:1", "attn:5:2"], windows,
                  CaptureConfig(top_k=5, n_random=5, decile_pool=20), progress=False)
    assert cap.n_tokens == 2048
    for fc in cap.features:
        tops = [e.max_act for e in fc.exemplars if e.kind == "top"]
        assert tops == sorted(tops, reverse=True) and tops[0] == pytest.approx(fc.stats["max"])


def _mechanic(*args, env=None, check=True):
    proc = subprocess.run([sys.executable, "-m", "mechanic.agent.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"mechanic {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def test_cache_command_on_one_layer_then_show_and_resume(tmp_path, embedded):
    db_path = tmp_path / "m.db"
    out = _mechanic("--db", str(db_path), "-q", "cache", "--layers", "2", "--tokens", "4096", "--json")
    summary = json.loads(out.stdout)
    assert summary["captured"] == 1536 and summary["skipped"] == 0 and summary["n_tokens"] == 4096

    db = store.open_db(db_path)
    assert db["features"].count == 1536
    row = store.get_feature(db, embedded.name, "mlp:2:100")
    tops = store.get_exemplars(db, row["id"], kind="top")
    assert len(tops) == 50 and tops[0].max_act == pytest.approx(row["max"], rel=1e-2)

    again = json.loads(_mechanic("--db", str(db_path), "-q", "cache", "--layers", "2", "--tokens", "4096", "--json").stdout)
    assert again["captured"] == 0 and again["skipped"] == 1536
    assert store.open_db(db_path)["features"].count == 1536  # no duplicates

    shown = _mechanic("--db", str(db_path), "-q", "show", "mlp:2:100").stdout
    assert "mlp:2:100" in shown and "top exemplars" in shown and "⟦" in shown
    data = json.loads(_mechanic("--db", str(db_path), "-q", "show", "mlp:2:100", "--json").stdout)
    assert data["feature"] == "mlp:2:100" and len(data["top"]) == 8 and data["output_tokens"]["promoted"]
