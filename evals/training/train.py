"""Training the ``trained`` simulator's head on the rule library.

The recipe (``bench/train_simulator.py`` runs it end to end):

1. a pool of windows — corpus text plus synthetic paragraphs — and their token
   features (:class:`~mechanic.evals.token_features.TokenFeaturizer`), computed once;
2. every library rule's activations on the pool;
3. the head learns, for a batch of rules at a time, to predict each rule's
   activations on a shared set of tokens (positives of every rule in the batch plus
   random tokens) from one of the rule's paraphrased descriptions: a balanced binary
   cross-entropy per rule, so a description must light its own rule's tokens and
   not the other rules' in the batch;
4. a logistic calibration of the logits onto 0-10 on validation windows.

Windows are split into train and validation by a seeded hash, and whole families
can be held out, so validity is measured on text and rules the head never saw.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from ..metrics import pearson
from ..offline import Head
from ..records import Record
from .library import LibraryRule, pick_decoys

__all__ = ["Pool", "TrainConfig", "build_pool", "calibrate", "rule_activations", "train_head",
           "validity", "validity_cases"]


@dataclass(frozen=True)
class TrainConfig:
    """How the head is trained (the defaults rebuild the shipped weights)."""

    rank: int = 64  # width of the bilinear map
    steps: int = 600
    rules_per_step: int = 64  # half drawn at random, half their nearest neighbours by description
    positives_per_rule: int = 16  # positive tokens sampled per rule in a step
    random_tokens: int = 512  # random tokens shared by the rules of a step
    lr: float = 5e-4
    weight_decay: float = 1e-4
    seed: int = 0
    held_out_families: tuple[str, ...] = ()
    cosine_blocks: tuple[str, ...] = ("own", "span")  # feature blocks whose cosine with e is a prior


@dataclass
class Pool:
    """Windows, their token features stacked ``[N, D]``, and which windows train."""

    windows: list[tuple[str, ...]]
    features: np.ndarray  # float32 [N, D]
    starts: np.ndarray  # row of each window's first token; len(windows) + 1 entries
    train_window: np.ndarray  # bool per window
    origin: list[str] = field(default_factory=list)  # "corpus" | "synthetic" per window

    def rows(self, window: int) -> slice:
        return slice(int(self.starts[window]), int(self.starts[window + 1]))

    @property
    def train_rows(self) -> np.ndarray:
        lengths = np.diff(self.starts)
        return np.repeat(self.train_window, lengths)


def build_pool(windows: Sequence[Sequence[str]], featurizer, origin: Sequence[str] = (),
               train: np.ndarray | None = None, progress: Callable[[int], None] | None = None) -> Pool:
    """Features of ``windows``; ``train`` marks the training windows (all by default)."""
    windows = [tuple(w) for w in windows]
    feats = featurizer(windows, progress=progress)
    starts = np.concatenate([[0], np.cumsum([len(w) for w in windows])])
    train = np.ones(len(windows), bool) if train is None else np.asarray(train, bool)
    return Pool(windows, np.concatenate(feats).astype(np.float32), starts, train, list(origin))


def rule_activations(rules: Sequence[LibraryRule], pool: Pool) -> dict[str, np.ndarray]:
    """Each rule's activations over the pool's rows, float32 ``[N]``."""
    return {r.name: np.concatenate([r.activations(w) for w in pool.windows]) for r in rules}


def train_head(pool: Pool, layout: dict[str, tuple[int, int]], rules: Sequence[LibraryRule],
               acts: dict[str, np.ndarray], description_embeddings: dict[str, np.ndarray], config: TrainConfig,
               log: Callable[[str], None] | None = None) -> Head:
    """A :class:`Head` fitted on the pool's train windows and the rules outside
    ``config.held_out_families``."""
    import torch

    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    train_rows = np.nonzero(pool.train_rows)[0]
    in_train = np.zeros(len(pool.features), bool)
    in_train[train_rows] = True
    chosen = [r for r in rules if r.family not in config.held_out_families]
    positives = {r.name: np.nonzero((acts[r.name] > 0) & in_train)[0] for r in chosen}
    chosen = [r for r in chosen if len(positives[r.name]) >= 2]
    if not chosen:
        raise ValueError("no library rule fires on the training windows")

    x = pool.features[train_rows]
    mean = x.mean(0)
    std = x.std(0) + 1e-3
    features = torch.from_numpy((pool.features - mean) / std).float()
    labels = torch.from_numpy(np.stack([acts[r.name] for r in chosen], 1).astype(np.float32))  # [N, R]
    dim_e = next(iter(description_embeddings.values())).shape[1]
    U = torch.nn.Linear(dim_e, config.rank)
    V = torch.nn.Linear(features.shape[1], config.rank)
    c = torch.nn.Parameter(torch.tensor(-2.0))
    blocks = list(config.cosine_blocks)
    missing = [b for b in blocks if b not in layout]
    if missing:
        raise ValueError(f"cosine blocks {missing} are not in the features' layout {list(layout)}")
    a = torch.nn.Parameter(torch.full((len(blocks),), 5.0))  # weights of the zero-training cosines
    raw = torch.from_numpy(pool.features)
    units = [torch.nn.functional.normalize(raw[:, slice(*layout[b])], dim=1) for b in blocks]
    params = [*U.parameters(), *V.parameters(), c, a]
    opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, config.steps)
    paraphrases = [torch.from_numpy(description_embeddings[r.name]).float() for r in chosen]
    # hard negatives: each rule's nearest other rules by description, so a batch holds near misses
    plain = np.stack([description_embeddings[r.name][0] for r in chosen])
    near = plain @ plain.T
    np.fill_diagonal(near, -np.inf)
    neighbours = np.argsort(-near, axis=1)[:, :4]
    scale = 1.0 / np.sqrt(config.rank)
    t0 = time.perf_counter()
    for step in range(config.steps):
        anchors = rng.choice(len(chosen), size=min(config.rules_per_step // 2, len(chosen)), replace=False)
        partners = neighbours[anchors, rng.integers(neighbours.shape[1], size=len(anchors))]
        batch = np.array(list(dict.fromkeys([*anchors.tolist(), *partners.tolist()])))
        pos = [rng.choice(positives[chosen[b].name], size=config.positives_per_rule) for b in batch]
        rows = np.concatenate([*pos, rng.choice(train_rows, size=config.random_tokens)])
        rows_t = torch.from_numpy(rows)
        y = (labels[rows_t][:, torch.from_numpy(batch)] > 0).float()  # [T, B]
        e = torch.stack([paraphrases[b][rng.integers(len(paraphrases[b]))] for b in batch])  # [B, 384]
        logits = (V(features[rows_t]) @ U(e).T) * scale + c  # [T, B]
        for i, unit in enumerate(units):
            logits = logits + a[i] * (unit[rows_t] @ e.T)
        bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, y, reduction="none")
        n_pos = y.sum(0).clamp(min=1)
        n_neg = (1 - y).sum(0).clamp(min=1)
        loss = ((bce * y).sum(0) / n_pos + (bce * (1 - y)).sum(0) / n_neg).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if log and (step % 500 == 0 or step == config.steps - 1):
            log(f"step {step:5d}  loss {loss.item():.4f}  {time.perf_counter() - t0:.0f}s")
    with torch.no_grad():
        return Head(U.weight.double().numpy(), U.bias.double().numpy(), V.weight.double().numpy(),
                    V.bias.double().numpy(), float(c), mean.astype(np.float64), std.astype(np.float64),
                    dict(layout), {b: float(a[i]) for i, b in enumerate(blocks)},
                    metadata={"config": asdict(config), "rules": len(chosen)})


def calibrate(logits: np.ndarray, fires: np.ndarray) -> tuple[float, float]:
    """``(scale, shift)`` of a logistic fit of ``fires`` on ``logits``."""
    from sklearn.linear_model import LogisticRegression

    fit = LogisticRegression(C=10.0).fit(np.asarray(logits).reshape(-1, 1), np.asarray(fires).astype(int))
    return float(fit.coef_[0, 0]), float(fit.intercept_[0])


# ---------------------------------------------------------------- validity


@dataclass
class Case:
    """One ground-truth feature for validity: its records, true description, decoys."""

    name: str
    family: str
    records: list[Record]
    true: str
    decoys: tuple[str, ...]


def validity_cases(rules: Sequence[LibraryRule], pool: Pool, acts: dict[str, np.ndarray], windows: np.ndarray,
                   seed: int = 0, n_firing: int = 10, n_random: int = 10) -> list[Case]:
    """For each rule firing in ``windows`` (window indices of the pool): up to
    ``n_firing`` windows where it fires plus ``n_random`` random ones, its plainest
    description, and the plainest descriptions of two decoy rules."""
    rng = np.random.default_rng(seed)
    eval_rows = np.concatenate([np.arange(pool.starts[w], pool.starts[w + 1]) for w in windows])
    sub = {name: a[eval_rows] for name, a in acts.items()}
    cases = []
    for rule in rules:
        per_window = [acts[rule.name][pool.rows(w)] for w in windows]
        firing = [i for i, a in enumerate(per_window) if a.max() > 0]
        if len(firing) < 2:
            continue
        decoys = pick_decoys(rule, rules, sub, rng)
        if len(decoys) < 2:
            continue
        picks = [firing[i] for i in rng.permutation(len(firing))[:n_firing]]
        picks += [int(i) for i in rng.choice(len(windows), size=n_random, replace=False)]
        records = [Record(pool.windows[windows[i]], per_window[i], kind="top" if i in firing else "random",
                          window=int(windows[i])) for i in picks]
        cases.append(Case(rule.name, rule.family, records, rule.descriptions[0],
                          tuple(d.descriptions[0] for d in decoys)))
    return cases


def validity(simulator, cases: Sequence[Case]) -> dict:
    """Does the simulator's pooled Pearson rank each case's true description above
    each of its decoys? The rate over all pairings (ties and undefined correlations
    count as failures), per family, and the mean correlation of the truth."""
    wins, total, truth = 0, 0, []
    families: dict[str, list[int]] = {}
    t0 = time.perf_counter()
    pairs = 0
    for case in cases:
        sims = simulator.simulate_many([case.true, *case.decoys], case.records)
        actual = np.concatenate([r.activations for r in case.records])
        corr = [pearson(np.concatenate(p), actual) for p in sims]
        pairs += len(sims) * len(case.records)
        truth.append(corr[0])
        fam = families.setdefault(case.family, [0, 0])
        for d in corr[1:]:
            won = corr[0] is not None and (d is None or corr[0] > d)
            wins += won
            fam[0] += won
            total += 1
            fam[1] += 1
    seconds = time.perf_counter() - t0
    defined = [t for t in truth if t is not None]
    return {"validity": wins / total if total else None, "wins": wins, "pairings": total,
            "cases": len(cases), "mean_true_pearson": float(np.mean(defined)) if defined else None,
            "per_family": {f: {"validity": w / n, "pairings": n} for f, (w, n) in sorted(families.items())},
            "pairs_per_second": pairs / seconds if seconds else None, "seconds": seconds}
