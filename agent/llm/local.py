"""The in-process backend: chat completion and exact slot log-probabilities from a
transformers model (by default the embedded SmolLM2-135M-Instruct, the subject itself).

Decoding is our own short loop over a ``DynamicCache`` rather than ``model.generate``:
it keeps the model's hub generation defaults (top-p, repetition penalty …) out of the
way, samples from a private ``torch.Generator`` so a seed never touches global RNG
state, and lets :meth:`LocalLLM.complete_many` prefill the prompt once and expand its
cache to ``n`` rows.

JSON-schema output is constrained with xgrammar's ``GrammarMatcher`` (the library
fills the token bitmask and applies it; we only drive the loop). Measured here on 2
shared CPU cores with SmolLM2-135M-Instruct and the schema ``{colour: string, count:
integer}``: importing xgrammar 0.1-0.5 s; tokenizer info plus the first compile 0.10 s
(once per model); each further schema ~1 ms, then cached by its sorted JSON; the
14-token reply ``{"colour": "red", "count": 1}`` took 0.62 s constrained against
0.60 s unconstrained for the same length (under load both vary fivefold, but stay
equal). outlines was not tried: DESIGN.md measured ~35 s for its first call.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import json
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from mechanic.evals.lm import Completion, LLMError, Usage
from mechanic.tools import Subject, load_subject

__all__ = ["LocalLLM"]

# Upper bound on the logits one scoring batch materialises (rows × slots × vocab floats):
# 32M floats is 128 MB, twice over for the log-softmax.
_LOGIT_BUDGET = 32 * 1024 * 1024


class LocalLLM:
    """Chat completion and :class:`~mechanic.evals.lm.SlotScorer` over an in-process model.

    ``subject_or_spec`` is a loaded :class:`~mechanic.tools.Subject` (reused, not
    copied), a ``load_subject`` spec, or ``None`` for the embedded default. All calls
    are serialised by one lock: a torch model is not safe to drive from two threads.
    """

    def __init__(self, subject_or_spec: Subject | str | None = None, *, name: str | None = None,
                 slot_batch_size: int = 16):
        if subject_or_spec is None or isinstance(subject_or_spec, str):
            subject_or_spec = load_subject(subject_or_spec)
        self.subject: Subject = subject_or_spec
        self.model = self.subject.model
        self.tokenizer = self.subject.tokenizer
        self.name = name or f"local:{_short_name(self.subject.name)}"
        self.slot_batch_size = slot_batch_size
        # Recent prefix caches by token ids: a new prefix starts from the longest shared one.
        self._prefixes: "OrderedDict[tuple[int, ...], object]" = OrderedDict()
        self.usage = Usage()
        self._lock = threading.RLock()
        self._eos_ids = _eos_ids(self.model, self.tokenizer)
        self._xgr_compiler = None
        self._grammars: dict[str, object] = {}
        # transformers 5 renamed forward's `past_key_values` to `cache` (and warns on the
        # old name); older releases know only `past_key_values`.
        self._cache_kw = "cache" if "cache" in inspect.signature(self.model.forward).parameters else "past_key_values"

    def __repr__(self) -> str:
        return f"LocalLLM(name={self.name!r})"

    def _with_cache(self, cache) -> dict:
        return {self._cache_kw: cache}

    # ------------------------------------------------------------------ prompts
    def prompt_ids(self, messages: Sequence[dict]) -> list[int]:
        """The token ids the model reads for ``messages``, ending where the reply starts."""
        tok = self.tokenizer
        if getattr(tok, "chat_template", None):
            text = tok.apply_chat_template(list(messages), add_generation_prompt=True, tokenize=False)
        else:  # tiny test models have no template: a plain transcript
            text = "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant:"
        return list(tok(text, add_special_tokens=False)["input_ids"])

    # --------------------------------------------------------------- completion
    def complete(self, messages: Sequence[dict], *, max_tokens: int = 256, temperature: float = 0.0,
                 json_schema: dict | None = None, seed: int | None = None) -> Completion:
        """One reply: greedy at ``temperature == 0``, else sampled (reproducibly when seeded)."""
        return self.complete_many(messages, 1, max_tokens=max_tokens, temperature=temperature,
                                  json_schema=json_schema, seed=seed)[0]

    def complete_many(self, messages: Sequence[dict], n: int, *, max_tokens: int = 256,
                      temperature: float = 1.0, json_schema: dict | None = None,
                      seed: int | None = None) -> list[Completion]:
        """``n`` replies to one prompt. The prompt is read once and its KV cache expanded
        to ``n`` rows. Greedy decoding (``temperature == 0``) is deterministic, so it runs
        once and is repeated. Prompt tokens are reported on the first completion only
        and the latency is split evenly, so summing the completions' usage counts the
        shared prompt once."""
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        if max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
        if temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {temperature}")
        grammar = self._grammar(json_schema) if json_schema is not None else None
        with self._lock:
            start = time.perf_counter()
            prompt = self.prompt_ids(messages)
            rows = 1 if temperature == 0 else n
            decoded = self._decode(prompt, rows, max_tokens, temperature, grammar, seed)
            if rows < n:
                decoded = decoded * n
            latency = (time.perf_counter() - start) / n
            completions = []
            for i, (tokens, stopped) in enumerate(decoded):
                completion = Completion(
                    text=self.tokenizer.decode(tokens, skip_special_tokens=True),
                    prompt_tokens=len(prompt) if i == 0 else 0,
                    completion_tokens=len(tokens) + int(stopped),
                    latency=latency,
                    model=self.name,
                    finish_reason="stop" if stopped else "length",
                    raw={"shared_prompt_tokens": len(prompt), "sample": i, "n": n},
                )
                self.usage.add(completion)
                completions.append(completion)
            return completions

    def complete_text(self, prompt: str, *, max_tokens: int = 64, temperature: float = 0.0,
                      seed: int | None = None, stop: Sequence[str] = ("\n",)) -> Completion:
        """Plain continuation of ``prompt`` (no chat template; the tokenizer's usual special
        tokens), ending at EOS or at the first ``stop`` string, which is cut from the text."""
        if max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
        with self._lock:
            start = time.perf_counter()
            ids = list(self.tokenizer(prompt)["input_ids"])
            if not ids:
                raise ValueError("complete_text needs a non-empty prompt")
            stop = tuple(s for s in stop if s)
            [(tokens, stopped)] = self._decode(ids, 1, max_tokens, temperature, None, seed, stop)
            text = self.tokenizer.decode(tokens, skip_special_tokens=True)
            cut = min((text.find(s) for s in stop if s in text), default=-1)
            completion = Completion(
                text=text if cut < 0 else text[:cut],
                prompt_tokens=len(ids),
                completion_tokens=len(tokens) + int(stopped and cut < 0),
                latency=time.perf_counter() - start,
                model=self.name,
                finish_reason="stop" if stopped else "length",
            )
            self.usage.add(completion)
            return completion

    async def acomplete(self, messages: Sequence[dict], *, max_tokens: int = 256, temperature: float = 0.0,
                        json_schema: dict | None = None, seed: int | None = None) -> Completion:
        return await asyncio.to_thread(self.complete, messages, max_tokens=max_tokens,
                                       temperature=temperature, json_schema=json_schema, seed=seed)

    async def acomplete_many(self, messages: Sequence[dict], n: int, *, max_tokens: int = 256,
                             temperature: float = 1.0, json_schema: dict | None = None,
                             seed: int | None = None) -> list[Completion]:
        return await asyncio.to_thread(self.complete_many, messages, n, max_tokens=max_tokens,
                                       temperature=temperature, json_schema=json_schema, seed=seed)

    @torch.no_grad()
    def _decode(self, prompt: list[int], n: int, max_tokens: int, temperature: float,
                grammar, seed: int | None, stop: Sequence[str] = ()) -> list[tuple[list[int], bool]]:
        """Decode ``n`` rows from one prompt; each row is ``(tokens before EOS, stopped)``.
        A row also stops once its decoded text contains one of ``stop`` (tokens kept)."""
        from transformers import DynamicCache

        device = self.subject.device
        cache = DynamicCache(config=self.model.config)
        logits = self.model(input_ids=torch.tensor([prompt], device=device), **self._with_cache(cache),
                            use_cache=True, logits_to_keep=1).logits[:, -1, :]
        if n > 1:
            cache.batch_repeat_interleave(n)
            logits = logits.expand(n, -1)
        # xgrammar masks logits on CPU or CUDA; other devices sample on the CPU.
        work = device if device.type == "cuda" else torch.device("cpu")
        generator = None
        if temperature > 0 and seed is not None:
            generator = torch.Generator(device=work).manual_seed(seed)
        matchers = bitmask = None
        if grammar is not None:
            import xgrammar as xgr

            matchers = [xgr.GrammarMatcher(grammar) for _ in range(n)]
            bitmask = xgr.allocate_token_bitmask(n, grammar.tokenizer_info.vocab_size)
        eos = torch.tensor(sorted(self._eos_ids), device=work)
        tokens: list[list[int]] = [[] for _ in range(n)]
        stopped = [False] * n
        active = list(range(n))  # the sample each batch row belongs to
        for step in range(max_tokens):
            logits = logits.to(work, torch.float32).contiguous()  # contiguous: step 0 may be expanded
            if matchers is not None:
                import xgrammar as xgr

                for row, sample in enumerate(active):
                    matchers[sample].fill_next_token_bitmask(bitmask, row)
                xgr.apply_token_bitmask_inplace(logits, bitmask[: len(active)].to(work))
            if temperature == 0:
                chosen = logits.argmax(-1)
            else:
                probs = torch.softmax(logits / temperature, dim=-1)
                chosen = torch.multinomial(probs, 1, generator=generator).squeeze(-1)
            is_eos = torch.isin(chosen, eos).tolist()
            keep = []
            for row, sample in enumerate(active):
                token = int(chosen[row])
                if matchers is not None:
                    matchers[sample].accept_token(token)
                if is_eos[row]:
                    stopped[sample] = True
                    continue
                tokens[sample].append(token)
                if stop and any(s in self.tokenizer.decode(tokens[sample]) for s in stop):
                    stopped[sample] = True
                else:
                    keep.append(row)
            if not keep or step == max_tokens - 1:
                break
            if len(keep) < len(active):  # drop finished rows from the batch
                index = torch.tensor(keep, device=device)
                cache.batch_select_indices(index)
                chosen = chosen[index.to(work)]
                active = [active[row] for row in keep]
            logits = self.model(input_ids=chosen[:, None].to(device), **self._with_cache(cache),
                                use_cache=True).logits[:, -1, :]
        return [(tokens[i], stopped[i]) for i in range(n)]

    def _grammar(self, schema: dict):
        """The compiled xgrammar grammar for ``schema``, compiled once per schema."""
        key = json.dumps(schema, sort_keys=True)
        with self._lock:
            if key in self._grammars:
                return self._grammars[key]
            import xgrammar as xgr

            if self._xgr_compiler is None:
                info = xgr.TokenizerInfo.from_huggingface(
                    self.tokenizer, vocab_size=self.subject.vocab_size, stop_token_ids=sorted(self._eos_ids))
                self._xgr_compiler = xgr.GrammarCompiler(info)
            try:
                # Compact JSON: a weak model cannot wander into endless whitespace.
                grammar = self._xgr_compiler.compile_json_schema(key, any_whitespace=False)
            except Exception as exc:  # xgrammar reports schema problems as RuntimeError/ValueError
                raise LLMError(f"json_schema could not be compiled: {str(exc).splitlines()[0]}") from exc
            self._grammars[key] = grammar
            return grammar

    # ------------------------------------------------------------------ slots
    @torch.no_grad()
    def score_slots(self, prefix: Sequence[int], bodies: Sequence[Sequence[int]],
                    slots: Sequence[Sequence[int]], candidates: Sequence[int]) -> list[np.ndarray]:
        """Exact next-token log-probabilities (see :class:`~mechanic.evals.lm.SlotScorer`).

        The prefix is read once; bodies run right-padded in batches (shortest first, at
        most ``slot_batch_size`` rows and a bounded number of logits per batch), each
        batch on its own copy of the prefix cache. Logits are projected only at the
        requested positions, then log-softmaxed over the full vocabulary in float32."""
        if len(bodies) != len(slots):
            raise ValueError(f"{len(bodies)} bodies but {len(slots)} slot lists")
        vocab = self.subject.vocab_size
        bad = [c for c in candidates if not 0 <= int(c) < vocab]
        if bad:
            raise ValueError(f"candidate token id {bad[0]} out of range 0-{vocab - 1}")
        for body, positions in zip(bodies, slots):
            wrong = [p for p in positions if not 0 <= int(p) < len(body)]
            if wrong:
                raise ValueError(f"slot {wrong[0]} out of range for a body of {len(body)} tokens")
        with self._lock:
            start = time.perf_counter()
            device = self.subject.device
            cand = torch.tensor([int(c) for c in candidates], dtype=torch.long, device=device)
            results: list[np.ndarray | None] = [None] * len(bodies)
            prefix_cache = self._prefix_cache(list(prefix)) if len(prefix) else None
            todo = []
            for i, positions in enumerate(slots):
                if len(positions):
                    todo.append(i)
                else:
                    results[i] = np.zeros((0, len(candidates)), dtype=np.float32)
            todo.sort(key=lambda i: len(bodies[i]))
            for batch in self._slot_batches(todo, bodies, vocab):
                self._score_batch(batch, len(prefix), prefix_cache, bodies, slots, cand, results)
            self.usage.add_slots(len(prefix) + sum(len(b) for b in bodies), time.perf_counter() - start)
            return results  # type: ignore[return-value]

    def _prefix_cache(self, prefix: list[int]):
        """The KV cache of ``prefix``. Scorers send many prefixes that differ only
        after shared instructions (one per explanation), so the longest cached common
        beginning is cropped and extended instead of recomputed. Callers copy the
        returned cache before running on it."""
        from transformers import DynamicCache

        key = tuple(prefix)
        if key in self._prefixes:
            self._prefixes.move_to_end(key)
            return self._prefixes[key]
        best, shared = None, 0
        for cached in self._prefixes:
            n = _common_length(cached, key)
            if n > shared:
                best, shared = cached, n
        shared = min(shared, len(prefix) - 1)  # at least one token must run
        if best is not None and shared >= _MIN_SHARED:
            cache = copy.deepcopy(self._prefixes[best])
            if len(best) > shared:  # this transformers' crop takes the number of tokens to drop, negated
                cache.crop(shared - len(best))
        else:
            cache, shared = DynamicCache(config=self.model.config), 0
        self.model(input_ids=torch.tensor([prefix[shared:]], device=self.subject.device), **self._with_cache(cache),
                   use_cache=True, logits_to_keep=1)
        self._prefixes[key] = cache
        while len(self._prefixes) > _MAX_PREFIXES:
            self._prefixes.popitem(last=False)
        return cache

    def _slot_batches(self, order: list[int], bodies, vocab: int):
        batch: list[int] = []
        for i in order:  # sorted by length, so the last body added is the longest
            if batch and (len(batch) >= self.slot_batch_size
                          or (len(batch) + 1) * len(bodies[i]) * vocab > _LOGIT_BUDGET):
                yield batch
                batch = []
            batch.append(i)
        if batch:
            yield batch

    def _score_batch(self, batch, prefix_len, prefix_cache, bodies, slots, cand, results) -> None:
        device = self.subject.device
        width = max(len(bodies[i]) for i in batch)
        pad = self.tokenizer.pad_token_id
        pad = pad if pad is not None else min(self._eos_ids, default=0)
        ids = torch.full((len(batch), width), pad, dtype=torch.long)
        mask = torch.zeros((len(batch), prefix_len + width), dtype=torch.long)
        mask[:, :prefix_len] = 1
        for row, i in enumerate(batch):
            ids[row, : len(bodies[i])] = torch.tensor([int(t) for t in bodies[i]], dtype=torch.long)
            mask[row, prefix_len: prefix_len + len(bodies[i])] = 1
        kept = sorted({int(p) for i in batch for p in slots[i]})
        column = {p: c for c, p in enumerate(kept)}
        cache = None
        if prefix_cache is not None:
            cache = copy.deepcopy(prefix_cache)
            cache.batch_repeat_interleave(len(batch))
        logits = self.model(input_ids=ids.to(device), attention_mask=mask.to(device), **self._with_cache(cache),
                            use_cache=cache is not None,
                            logits_to_keep=torch.tensor(kept, device=device)).logits
        logprobs = torch.log_softmax(logits.float(), dim=-1)
        for row, i in enumerate(batch):
            cols = torch.tensor([column[int(p)] for p in slots[i]], device=device)
            results[i] = logprobs[row, cols][:, cand].cpu().numpy()


_MIN_SHARED = 8  # fewer shared tokens than this are recomputed
_MAX_PREFIXES = 4


def _common_length(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def _short_name(name: str) -> str:
    """``/path/to/Model`` → ``Model``; hub ids and ``tiny:llama`` stay as they are."""
    path = Path(name)
    return path.name if (name.startswith(("/", ".", "~")) or path.is_dir()) else name


def _eos_ids(model, tokenizer) -> set[int]:
    ids: set[int] = set()
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    for value in (configured, tokenizer.eos_token_id):
        if isinstance(value, int):
            ids.add(value)
        elif value:
            ids.update(int(v) for v in value)
    return ids
