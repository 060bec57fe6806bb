"""Training the ``trained`` simulator's head on the rule library.

The recipe (``bench/train_simulator.py`` runs it end to end):

1. a pool of windows — corpus text plus synthetic paragraphs — and their token
   views (:class:`~mechanic.evals.token_views.TokenViews`), computed once;
2. every library rule's activations on the pool;
3. the head learns, for a batch of rules at a time and a shared set of tokens
   (positives of every rule in the batch plus random tokens), that each rule's
   activations correlate best (Pearson) with the levels predicted from its own
   paraphrased description, not from the other rules' in the batch (half of which
   are its nearest neighbours by description): the validity criterion itself, made
   differentiable; the levels are ``10 * sigmoid(logit)``, in training and in use;
4. the logit of even odds for yes/no answers, from a logistic fit on validation
   windows (:func:`calibrate`).

Windows are split into train and validation by a seeded hash, and whole families
can be held out, so validity is measured on text and rules the head never saw.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from ..metrics import auroc, pearson
from ..offline import PARAMS, RELATIONS, Head, head_logits, named_ids, relations, word_ids
from ..records import Record
from ..scorers.detection import POOLINGS, window_score
from ..token_views import FLAGS, PHRASES, VIEWS, token_words
from .library import LibraryRule, pick_decoys

__all__ = ["DetectionCase", "Pool", "TrainConfig", "build_pool", "calibrate", "detection_cases",
           "detection_validity", "rule_activations", "train_head", "validity", "validity_cases"]


@dataclass(frozen=True)
class TrainConfig:
    """How the head is trained (the defaults rebuild the shipped weights)."""

    steps: int = 600
    rules_per_step: int = 64  # half drawn at random, half their nearest neighbours by description
    positives_per_rule: int = 16  # positive tokens sampled per rule in a step
    hard_negatives_per_rule: int = 0  # tokens sampled per rule in a step that read like its positives but do not fire
    random_tokens: int = 512  # random tokens shared by the rules of a step
    lr: float = 1e-2
    weight_decay: float = 1e-4
    temperature: float = 0.05  # of the softmax over the batch's descriptions, on Pearson r
    seed: int = 0
    held_out_families: tuple[str, ...] = ()


@dataclass
class Pool:
    """Windows, their token views stacked ``[N, DIM_VIEWS]`` (float16), and which
    windows train."""

    windows: list[tuple[str, ...]]
    views: np.ndarray  # float16 [N, DIM_VIEWS]
    starts: np.ndarray  # row of each window's first token; len(windows) + 1 entries
    train_window: np.ndarray  # bool per window
    origin: list[str] = field(default_factory=list)  # "corpus" | "synthetic" per window

    def rows(self, window: int) -> slice:
        return slice(int(self.starts[window]), int(self.starts[window + 1]))

    def window_views(self) -> list[np.ndarray]:
        return [self.views[self.rows(w)] for w in range(len(self.windows))]

    @property
    def train_rows(self) -> np.ndarray:
        lengths = np.diff(self.starts)
        return np.repeat(self.train_window, lengths)


def build_pool(windows: Sequence[Sequence[str]], token_views, origin: Sequence[str] = (),
               train: np.ndarray | None = None, progress: Callable[[int], None] | None = None) -> Pool:
    """Views of ``windows`` (a :class:`~mechanic.evals.token_views.TokenViews`);
    ``train`` marks the training windows (all by default)."""
    windows = [tuple(w) for w in windows]
    views = token_views(windows, progress=progress)
    starts = np.concatenate([[0], np.cumsum([len(w) for w in windows])])
    train = np.ones(len(windows), bool) if train is None else np.asarray(train, bool)
    return Pool(windows, np.concatenate(views).astype(np.float16), starts, train, list(origin))


def rule_activations(rules: Sequence[LibraryRule], pool: Pool) -> dict[str, np.ndarray]:
    """Each rule's activations over the pool's rows, float32 ``[N]``."""
    return {r.name: np.concatenate([r.activations(w) for w in pool.windows]) for r in rules}


def _unit_rows(x):
    """Rows centred and scaled to unit norm, so a dot product of two is a Pearson r."""
    x = x - x.mean(1, keepdim=True)
    return x / (x.norm(dim=1, keepdim=True) + 1e-6)


def train_head(pool: Pool, rules: Sequence[LibraryRule], acts: dict[str, np.ndarray],
               description_embeddings: dict[str, np.ndarray], phrase_embeddings: np.ndarray, config: TrainConfig,
               log: Callable[[str], None] | None = None) -> Head:
    """A :class:`Head` fitted on the pool's train windows and the rules outside
    ``config.held_out_families``, on what validity measures: for a batch of rules at a
    time (half of them near neighbours of the other half by description) and a shared
    set of tokens (positives of every rule plus random tokens), each rule's Pearson
    correlation with every description's predicted levels, and a cross-entropy that
    asks the rule's own paraphrase to predict it best. ``phrase_embeddings`` embed
    :data:`~mechanic.evals.token_views.PHRASES`."""
    import torch

    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    train_rows = np.nonzero(pool.train_rows)[0]
    in_train = np.zeros(len(pool.views), bool)
    in_train[train_rows] = True
    chosen = [r for r in rules if r.family not in config.held_out_families]
    positives = {r.name: np.nonzero((acts[r.name] > 0) & in_train)[0] for r in chosen}
    chosen = [r for r in chosen if len(positives[r.name]) >= 2]
    hard = _hard_negatives(pool, chosen, acts, in_train, rng) if config.hard_negatives_per_rule else {}
    if not chosen:
        raise ValueError("no library rule fires on the training windows")
    if phrase_embeddings.shape != (len(PHRASES), next(iter(description_embeddings.values())).shape[1]):
        raise ValueError(f"phrase embeddings of shape {phrase_embeddings.shape} for {len(PHRASES)} phrases")

    views = torch.from_numpy(pool.views)
    n_views = len(VIEWS)
    labels = torch.from_numpy(np.stack([acts[r.name] > 0 for r in chosen], 1))  # [N, R]
    paraphrases = [torch.from_numpy(description_embeddings[r.name]).float() for r in chosen]
    words = [torch.from_numpy(relations(r.descriptions)).float() for r in chosen]
    # the examples each paraphrase names, as ids of the pool's words (see `head_logits`)
    pool_words, vocab = word_ids(token_words(pool.windows))
    named = [[named_ids(d, vocab) for d in r.descriptions] for r in chosen]
    params = {
        "w": torch.full((n_views,), float(np.log(np.e - 1))),  # softplus(w) = 1: every view alike at first
        "W": torch.zeros(len(RELATIONS), n_views),
        "a": torch.full((n_views,), 5.0),
        "b": torch.zeros(n_views),
        "c": torch.tensor([-2.0]),
        "tau": torch.full((len(FLAGS),), 20.0),
        "theta": torch.full((len(FLAGS),), 0.35),
    }
    yes_logit = torch.zeros(1)  # not trained: set by `calibrate` on validation windows
    for p in params.values():
        p.requires_grad_(True)
    params["phrases"] = torch.from_numpy(np.asarray(phrase_embeddings, np.float32))  # fixed
    opt = torch.optim.AdamW([p for k, p in params.items() if k != "phrases"], lr=config.lr,
                            weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(config.steps, 1))
    # hard negatives: each rule's nearest other rules by description, so a batch holds near misses
    plain = np.stack([description_embeddings[r.name][0] for r in chosen])
    near = plain @ plain.T
    np.fill_diagonal(near, -np.inf)
    neighbours = np.argsort(-near, axis=1)[:, :4]
    t0 = time.perf_counter()
    for step in range(config.steps):
        anchors = rng.choice(len(chosen), size=min(config.rules_per_step // 2, len(chosen)), replace=False)
        partners = neighbours[anchors, rng.integers(neighbours.shape[1], size=len(anchors))]
        batch = np.array(list(dict.fromkeys([*anchors.tolist(), *partners.tolist()])))
        pos = [rng.choice(positives[chosen[k].name], size=config.positives_per_rule) for k in batch]
        pos += [rng.choice(hard[chosen[k].name], size=config.hard_negatives_per_rule) for k in batch
                if len(hard.get(chosen[k].name, ()))]
        rows = torch.from_numpy(np.concatenate([*pos, rng.choice(train_rows, size=config.random_tokens)]))
        y = labels[rows][:, torch.from_numpy(batch)].float().T  # [B, T]
        pick = [int(rng.integers(len(paraphrases[k]))) for k in batch]
        e = torch.stack([paraphrases[k][j] for k, j in zip(batch, pick)])  # [B, 384]
        r = torch.stack([words[k][j] for k, j in zip(batch, pick)])  # [B, R]
        at = pool_words[rows.numpy()]
        listed = torch.from_numpy(np.stack([np.isin(at, named[k][j]) for k, j in zip(batch, pick)], -1).astype(
            np.float32))  # [T, len(LISTED_VIEWS), B]
        levels = torch.sigmoid(head_logits(params, r, e, views[rows].float(), listed))  # [B, T]
        # which description of the batch predicts rule i's activations best, by Pearson? the truth, ideally
        agreement = _unit_rows(y) @ _unit_rows(levels).T  # [rule, description]
        loss = torch.nn.functional.cross_entropy(agreement / config.temperature, torch.arange(len(batch)))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if log and (step % 200 == 0 or step == config.steps - 1):
            log(f"step {step:5d}  loss {loss.item():.4f}  {time.perf_counter() - t0:.0f}s")
    params["yes_logit"] = yes_logit
    with torch.no_grad():
        return Head(*(params[k].double().numpy() for k in PARAMS),
                    metadata={"config": asdict(config), "rules": len(chosen)})


def _hard_negatives(pool: Pool, rules: Sequence[LibraryRule], acts: dict[str, np.ndarray], in_train: np.ndarray,
                    rng: np.random.Generator, top: int = 20, keep: int = 512) -> dict[str, np.ndarray]:
    """Per rule, up to ``keep`` training rows where it does not fire on a token whose
    text is one of the ``top`` commonest it fires on (the '.' of ``os.path`` for a rule
    of full stops): the near misses a detection's hard negatives are made of."""
    strings = [t.strip() for w in pool.windows for t in w]
    ids = {s: i for i, s in enumerate(dict.fromkeys(strings))}
    token = np.array([ids[s] for s in strings], np.int64)
    out = {}
    for rule in rules:
        fires = acts[rule.name] > 0
        common = np.bincount(token[fires & in_train], minlength=len(ids))
        picks = np.argsort(-common)[:top]
        picks = picks[common[picks] > 0]
        rows = np.nonzero(np.isin(token, picks) & ~fires & in_train)[0]
        if len(rows) > keep:
            rows = rng.choice(rows, size=keep, replace=False)
        out[rule.name] = rows
    return out


def calibrate(logits: np.ndarray, fires: np.ndarray) -> float:
    """The logit at which a logistic fit of ``fires`` on ``logits`` gives even odds."""
    from sklearn.linear_model import LogisticRegression

    fit = LogisticRegression(C=10.0).fit(np.asarray(logits).reshape(-1, 1), np.asarray(fires).astype(int))
    return float(-fit.intercept_[0] / fit.coef_[0, 0])


# ---------------------------------------------------------------- validity


@dataclass
class Case:
    """One ground-truth feature for validity: its records, true description, decoys."""

    name: str
    family: str
    records: list[Record]
    true: str
    decoys: tuple[str, ...]


def _on_windows(pool: Pool, acts: dict[str, np.ndarray], windows: np.ndarray) -> dict[str, np.ndarray]:
    """Each rule's token activations restricted to the pool's ``windows`` (what decoys are picked on)."""
    rows = np.concatenate([np.arange(pool.starts[w], pool.starts[w + 1]) for w in windows])
    return {name: a[rows] for name, a in acts.items()}


def validity_cases(rules: Sequence[LibraryRule], pool: Pool, acts: dict[str, np.ndarray], windows: np.ndarray,
                   seed: int = 0, n_firing: int = 10, n_random: int = 10) -> list[Case]:
    """For each rule firing in ``windows`` (window indices of the pool): up to
    ``n_firing`` windows where it fires plus ``n_random`` random ones, its plainest
    description, and the plainest descriptions of two decoy rules."""
    rng = np.random.default_rng(seed)
    sub = _on_windows(pool, acts, windows)
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


@dataclass
class DetectionCase:
    """One ground-truth feature for detection validity: windows where it fires, quiet
    windows (half of them holding one of its firing tokens, when any do), its true
    description and two decoys."""

    name: str
    family: str
    activating: list[Record]
    negatives: list[Record]
    true: str
    decoys: tuple[str, ...]


def detection_cases(rules: Sequence[LibraryRule], pool: Pool, acts: dict[str, np.ndarray], windows: np.ndarray,
                    seed: int = 0, n: int = 10, n_hard: int = 5) -> list[DetectionCase]:
    """Detection as the bench runs it, on the pool's ``windows`` (window indices):
    for each rule firing in at least two of them, up to ``n`` firing windows and as
    many quiet ones, up to ``n_hard`` of which hold one of the rule's five commonest
    firing token strings (hard negatives), with the decoys :func:`pick_decoys` gives."""
    rng = np.random.default_rng(seed)
    sub = _on_windows(pool, acts, windows)
    cases = []
    for rule in rules:
        per_window = [acts[rule.name][pool.rows(w)] for w in windows]
        firing = [i for i, a in enumerate(per_window) if a.max() > 0]
        quiet = [i for i, a in enumerate(per_window) if a.max() <= 0]
        if len(firing) < 2 or len(quiet) < 2:
            continue
        decoys = pick_decoys(rule, rules, sub, rng)
        if len(decoys) < 2:
            continue
        counts: dict[str, int] = {}
        for i in firing:
            for tok, a in zip(pool.windows[windows[i]], per_window[i]):
                if a > 0 and tok.strip():
                    counts[tok] = counts.get(tok, 0) + 1
        triggers = set(sorted(counts, key=lambda t: -counts[t])[:5])
        picks = [firing[i] for i in rng.permutation(len(firing))[:n]]
        order = [quiet[i] for i in rng.permutation(len(quiet))]
        hard = [i for i in order if triggers & set(pool.windows[windows[i]])][: min(n_hard, len(picks) // 2)]
        plain = [i for i in order if i not in set(hard)][: len(picks) - len(hard)]

        def record(i, kind):
            return Record(pool.windows[windows[i]], per_window[i], kind=kind, window=int(windows[i]))

        cases.append(DetectionCase(rule.name, rule.family, [record(i, "top") for i in picks],
                                   [record(i, "hard_negative") for i in hard] + [record(i, "random") for i in plain],
                                   rule.descriptions[0], tuple(d.descriptions[0] for d in decoys)))
    return cases


def detection_validity(simulator, cases: Sequence[DetectionCase], poolings: Sequence[str] = POOLINGS) -> dict:
    """Per window pooling (:func:`~mechanic.evals.scorers.detection.window_score`):
    does the detection AUROC of each case's true description beat each decoy's? The
    rate over all pairings (ties half, as the bench counts them), overall and per
    family, and the mean AUROC of the truth."""
    out: dict[str, dict] = {}
    for how in poolings:
        out[how] = {"wins": 0.0, "pairings": 0, "truth_auroc": [], "per_family": {}}
    for case in cases:
        records = [*case.activating, *case.negatives]
        y = np.array([True] * len(case.activating) + [False] * len(case.negatives))
        sims = simulator.simulate_many([case.true, *case.decoys], records)
        for how in poolings:
            scores = [auroc(y, np.array([window_score(p, how) for p in per_record])) for per_record in sims]
            if any(v is None for v in scores):
                continue
            res = out[how]
            fam = res["per_family"].setdefault(case.family, [0.0, 0])
            res["truth_auroc"].append(scores[0])
            for d in scores[1:]:
                won = 0.5 if d == scores[0] else float(scores[0] > d)
                res["wins"] += won
                res["pairings"] += 1
                fam[0] += won
                fam[1] += 1
    return {how: {"validity": r["wins"] / r["pairings"] if r["pairings"] else None, "pairings": r["pairings"],
                  "cases": len(cases), "mean_true_auroc": float(np.mean(r["truth_auroc"])) if cases else None,
                  "per_family": {f: {"validity": w / n, "pairings": n} for f, (w, n) in sorted(r["per_family"].items())}}
            for how, r in out.items()}
