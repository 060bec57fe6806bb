"""The ``records`` suite: activation records in the OpenAI neuron-explainer formats.

Two kinds of JSON file are read (a path may also be a folder of them, read in
sorted order):

* a **NeuronRecord**: ``{"neuron_id": {"layer_index": L, "neuron_index": N},
  "most_positive_activation_records": [...], "random_sample": [...],
  "random_sample_by_quantile": [[...], ...], ...}``, each record ``{"tokens":
  [str], "activations": [float]}`` (the ``dataclass_name`` keys of that project's
  serialiser are ignored). A list of them works too. It has no ground truth.
* a **puzzle file**: ``{"NAME": {"name", "explanation", "false_explanations",
  "sentences"}, ...}`` (or one such object), where a sentence is a list of tokens,
  each a string (activation 0) or ``[string, activation]``. The explanation is the
  ground truth and the first two false explanations are the decoys.

Records are assigned to splits the way that project interleaves them: top records
in turn to train, select, test, test; random records to select, test, test;
quantile samples alternately to train and test; puzzle sentences alternately to
train and test (a puzzle has too few sentences for a third split, so best-of-k
selects on the train sentences).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from mechanic.tools.errors import MechanicError

from ..records import Record

__all__ = ["ImportedFeature", "load_records", "parse_neuron_record", "parse_puzzles"]


@dataclass
class ImportedFeature:
    """One imported feature: its records by split, and its ground truth if any."""

    name: str  # neuron:L:N or puzzle:NAME
    source: str  # neuron_record | puzzle
    description: str | None = None
    decoys: tuple[str, ...] = ()
    train: list[Record] = field(default_factory=list)
    select: list[Record] = field(default_factory=list)
    test: list[Record] = field(default_factory=list)
    details: dict = field(default_factory=dict)

    @property
    def has_ground_truth(self) -> bool:
        return bool(self.description) and len(self.decoys) >= 2


def _record(data, where: str, kind: str, split: str, index: int, decile: int | None = None) -> Record:
    if not isinstance(data, dict) or "tokens" not in data or "activations" not in data:
        raise MechanicError(f"{where}: an activation record needs 'tokens' and 'activations'")
    tokens, acts = data["tokens"], data["activations"]
    if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
        raise MechanicError(f"{where}: 'tokens' must be a list of strings")
    try:
        values = np.asarray([float(a) for a in acts], dtype=np.float32)
    except (TypeError, ValueError):
        raise MechanicError(f"{where}: 'activations' must be numbers") from None
    if len(values) != len(tokens):
        raise MechanicError(f"{where}: {len(tokens)} tokens but {len(values)} activations")
    if not np.isfinite(values).all():
        raise MechanicError(f"{where}: activations must be finite")
    return Record(tuple(tokens), values, kind, split, index, decile)


def parse_neuron_record(data: dict, where: str = "record") -> ImportedFeature:
    """One NeuronRecord (see module doc) as an :class:`ImportedFeature`."""
    nid = data.get("neuron_id")
    if not isinstance(nid, dict) or "layer_index" not in nid or "neuron_index" not in nid:
        raise MechanicError(f"{where}: a NeuronRecord needs neuron_id with layer_index and neuron_index")
    feature = ImportedFeature(f"neuron:{int(nid['layer_index'])}:{int(nid['neuron_index'])}", "neuron_record")
    top = data.get("most_positive_activation_records") or []
    if not top:
        raise MechanicError(f"{where}: no most_positive_activation_records")
    splits = {"train": feature.train, "select": feature.select, "test": feature.test}
    window = 0
    for i, r in enumerate(top):
        split = ("train", "select", "test", "test")[i % 4]
        splits[split].append(_record(r, f"{where} top record {i}", "top", split, window))
        window += 1
    for i, r in enumerate(data.get("random_sample") or []):
        split = ("select", "test", "test")[i % 3]
        splits[split].append(_record(r, f"{where} random record {i}", "random", split, window))
        window += 1
    bins = data.get("random_sample_by_quantile") or []
    for b, records in enumerate(bins):
        decile = min(9, b * 10 // max(len(bins), 1))
        for j, r in enumerate(records or []):
            split = ("train", "test")[j % 2]
            splits[split].append(_record(r, f"{where} quantile {b} record {j}", "decile", split, window, decile))
            window += 1
    feature.details = {k: data[k] for k in ("mean", "variance") if isinstance(data.get(k), (int, float))}
    return feature


def _puzzle(name: str, data: dict, where: str) -> ImportedFeature:
    for key in ("explanation", "false_explanations", "sentences"):
        if key not in data:
            raise MechanicError(f"{where}: puzzle {name!r} has no {key!r}")
    feature = ImportedFeature(f"puzzle:{data.get('name') or name}", "puzzle", str(data["explanation"]),
                              tuple(str(x) for x in data["false_explanations"][:2]))
    for i, sentence in enumerate(data["sentences"]):
        if not isinstance(sentence, list):
            raise MechanicError(f"{where}: puzzle {name!r} sentence {i} is not a list of tokens")
        tokens, acts = [], []
        for t in sentence:
            if isinstance(t, str):
                tokens.append(t)
                acts.append(0.0)
            elif isinstance(t, list) and len(t) == 2 and isinstance(t[0], str):
                tokens.append(t[0])
                acts.append(t[1])
            else:
                raise MechanicError(f"{where}: puzzle {name!r} sentence {i}: a token is a string or [string, number]")
        split = ("train", "test")[i % 2]
        rec = _record({"tokens": tokens, "activations": acts}, f"{where} puzzle {name!r} sentence {i}",
                      "top", split, i)
        if rec.max_act <= 0:
            rec = Record(rec.tokens, rec.activations, "random", split, i)
        (feature.train if split == "train" else feature.test).append(rec)
    feature.select = list(feature.train)
    return feature


def parse_puzzles(data: dict, where: str = "puzzles") -> list[ImportedFeature]:
    """A puzzle file (a dict of puzzles, or one puzzle) as features with ground truth."""
    if "sentences" in data:
        return [_puzzle(str(data.get("name", "puzzle")), data, where)]
    return [_puzzle(str(name), p, where) for name, p in data.items() if isinstance(p, dict)]


def _parse(data, where: str) -> list[ImportedFeature]:
    if isinstance(data, list):
        return [f for i, d in enumerate(data) for f in _parse(d, f"{where}[{i}]")]
    if not isinstance(data, dict):
        raise MechanicError(f"{where}: expected a JSON object or a list of them")
    if "neuron_id" in data:
        return [parse_neuron_record(data, where)]
    if "sentences" in data or any(isinstance(v, dict) and "sentences" in v for v in data.values()):
        return parse_puzzles(data, where)
    raise MechanicError(f"{where}: neither a NeuronRecord (neuron_id, most_positive_activation_records) "
                        "nor a puzzle file (explanation, false_explanations, sentences)")


def load_records(path: str | Path) -> list[ImportedFeature]:
    """Every feature in a NeuronRecord / puzzle JSON file, or in the ``*.json`` files
    of a folder. Names are unique (a repeated name is an error)."""
    path = Path(path).expanduser()
    if not path.exists():
        raise MechanicError(f"no records file or folder at {path}")
    files = sorted(path.rglob("*.json")) if path.is_dir() else [path]
    if not files:
        raise MechanicError(f"no .json files under {path}")
    out: list[ImportedFeature] = []
    for f in files:
        try:
            data = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise MechanicError(f"{f}: not readable JSON ({exc})") from None
        out += _parse(data, f.name)
    names = [f.name for f in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise MechanicError(f"repeated feature names in {path}: {', '.join(dupes[:5])}")
    return out
