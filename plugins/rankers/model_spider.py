"""model-spider: a learned ranker — Model Spider (Zhang et al., "Model Spider: Learning to Rank
Pre-Trained Models Efficiently", NeurIPS 2023, https://arxiv.org/abs/2306.03900).

As published, scaled to what a zoo's history holds:

- **Task tokens**: the task's items embedded by a general-purpose encoder (our task proxies).
  With class labels, one token per class (the class prototype: the mean embedding of its
  items), as in the paper; without, up to ``task_tokens`` sampled item embeddings (during
  training a fresh random sample each step, an augmentation; at inference a fixed seeded one).
- **Model tokens**: one learnable token per model, ``token_m = P · init_m + free_m``, where
  ``init_m`` is the model's fitted transfer vector (a row of ``U``) and its meta / architecture
  features, standardised, and ``free_m`` a learned per-model offset starting at zero. A model
  added after training has ``free_m = 0``, so its token comes from its (predicted) vector and
  its architecture: it is not blind.
- **Fitness**: a Transformer block over ``[model token; task tokens]``; a scalar head on the
  model position's output gives the fitness of that (model, task) pair. Only that position is
  read, so the block is computed there alone (the model token attends over itself and the task
  tokens): the same function as a full encoder layer read at position 0, far cheaper. With
  ``layers > 1`` the task tokens stay keys and values (they are not updated between blocks).
- **Training**: on the historical tasks with embeddings, a listwise Plackett-Luce loss against
  each task's true order of its observed models; Adam with a cosine schedule, seeded; a
  validation split of historical tasks (weighted tau) stops training early and keeps the best
  parameters. The parameters are a ``state_dict`` kept as arrays (no pickle).
- **Re-ranking** (optional, :func:`rerank_top_k`): when the user allows forward passes of the
  top-k models, their penultimate features on the task's labelled images are scored by a
  forward-pass estimator (LogME) and the top-k reordered by the mean of both ranks — the
  "PTM-specific features" step of the paper, in its simplest form.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from fennec_plugins.factorizers.base import number_option, whole_option

from fennec_core import hookimpl
from fennec_core.errors import FennecError, InputError
from fennec_core.plugin_api import feature_moments

if TYPE_CHECKING:  # pragma: no cover
    from fennec_core.zoo import FittedZoo


def _net(init_dim: int, embed_dim: int, n_models: int, dim: int, heads: int, layers: int, dropout: float) -> Any:
    import torch
    from torch import nn

    class Block(nn.Module):
        """A pre-norm Transformer block read at the model position: the model token attends over
        itself and the task tokens (keys/values), then a feed-forward. Identical to running a
        full encoder layer over [model; task tokens] and keeping position 0, but linear, not
        quadratic, in the number of task tokens and with the feed-forward on one position only."""

        def __init__(self) -> None:
            super().__init__()
            self.ln_q, self.ln_kv, self.ln_ff = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
            self.q, self.k, self.v, self.o = (nn.Linear(dim, dim) for _ in range(4))
            self.ff = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
            self.drop = nn.Dropout(dropout)

        def forward(self, h: Any, task: Any, pad: Any) -> Any:
            B, m, D = h.shape
            dh = D // heads

            def split(x: Any) -> Any:
                return x.reshape(x.shape[0], x.shape[1], heads, dh).transpose(1, 2)  # [B, H, n, dh]

            hq, kv_t, kv_s = self.ln_q(h), self.ln_kv(task), self.ln_kv(h)
            q, kt, vt, ks, vs = split(self.q(hq)), split(self.k(kv_t)), split(self.v(kv_t)), split(self.k(kv_s)), \
                split(self.v(kv_s))
            scale = dh ** -0.5
            s_t = (q @ kt.transpose(-1, -2)) * scale  # [B, H, m, T]
            if pad is not None:
                s_t = s_t.masked_fill(pad[:, None, None, :], float("-inf"))
            s_s = (q * ks).sum(-1, keepdim=True) * scale  # [B, H, m, 1]
            att = self.drop(torch.softmax(torch.cat([s_s, s_t], dim=-1), dim=-1))
            out = att[..., :1] * vs + att[..., 1:] @ vt  # [B, H, m, dh]
            h = h + self.drop(self.o(out.transpose(1, 2).reshape(B, m, D)))
            return h + self.drop(self.ff(self.ln_ff(h)))

    class Spider(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model_proj = nn.Linear(init_dim, dim)
            self.free = nn.Parameter(torch.zeros(n_models, dim))
            self.task_proj = nn.Linear(embed_dim, dim)
            self.kind = nn.Parameter(torch.zeros(2, dim))  # which token is the model, which the task
            self.blocks = nn.ModuleList(Block() for _ in range(layers))
            self.head = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, 1))

        def forward(self, init: Any, free_idx: Any, tokens: Any, pad: Any = None) -> Any:
            """Fitness [B, m] of m models for B tasks: tokens [B, T, d], pad [B, T] (True = padding)."""
            free = torch.where((free_idx >= 0)[:, None], self.free[free_idx.clamp(min=0)], torch.zeros_like(
                self.free[:1]))
            model = self.model_proj(init) + free + self.kind[0]  # [m, D]
            task = self.task_proj(tokens) + self.kind[1]  # [B, T, D]
            h = model[None].expand(len(task), -1, -1)
            for block in self.blocks:
                h = block(h, task, pad)
            return self.head(h).squeeze(-1)

    if dim % heads:
        raise FennecError(f"model-spider: dim ({dim}) must be a multiple of heads ({heads})")
    return Spider()


def plackett_luce_loss(scores: Any, truth: Any) -> Any:
    """Negative log-likelihood of the true order under a Plackett-Luce model of ``scores``."""
    import torch

    s = scores[torch.argsort(truth, descending=True, stable=True)]
    return (torch.logcumsumexp(s.flip(0), 0).flip(0) - s).mean()


def _stack_tokens(token_sets: list[np.ndarray]) -> tuple[Any, Any]:
    """Pad token sets of different lengths into [B, T, d] plus a padding mask [B, T]."""
    import torch

    T = max(len(t) for t in token_sets)
    d = token_sets[0].shape[1]
    out = np.zeros((len(token_sets), T, d), dtype=np.float32)
    pad = np.ones((len(token_sets), T), dtype=bool)
    for i, t in enumerate(token_sets):
        out[i, :len(t)] = t
        pad[i, :len(t)] = False
    return torch.from_numpy(out), torch.from_numpy(pad)


def task_tokens(embeddings: np.ndarray, labels: Sequence[Any] | None, n: int, rng: np.random.Generator | None,
                seed: int = 0) -> np.ndarray:
    """Class prototypes when labels are given, else up to ``n`` sampled item embeddings."""
    E = np.atleast_2d(np.asarray(embeddings, dtype=np.float32))
    if labels is not None:
        labs = np.asarray(labels)
        return np.stack([E[labs == c].mean(axis=0) for c in np.unique(labs)])
    if len(E) <= n:
        return E
    gen = rng if rng is not None else np.random.default_rng(seed)
    return E[np.sort(gen.choice(len(E), n, replace=False))]


class ModelSpiderRanker:
    """Model Spider: learned fitness of (model token, task tokens) pairs, trained listwise."""

    name = "model-spider"

    def __init__(self, *, dim: int = 64, heads: int = 4, layers: int = 1, task_tokens: int = 16,
                 epochs: int = 200, learning_rate: float = 3e-3, weight_decay: float = 1e-4, dropout: float = 0.1,
                 patience: int = 30, val_fraction: float = 0.2, batch_tasks: int = 8, seed: int = 0,
                 device: str = "auto", progress: bool = False) -> None:
        name = self.name
        self.dim, self.heads, self.layers, self.task_tokens, self.epochs, self.patience, self.batch_tasks = (
            whole_option(name, option, value, 1) for option, value in (
                ("dim", dim), ("heads", heads), ("layers", layers), ("task_tokens", task_tokens), ("epochs", epochs),
                ("patience", patience), ("batch_tasks", batch_tasks)))
        self.learning_rate = number_option(name, "learning_rate", learning_rate)
        self.weight_decay = number_option(name, "weight_decay", weight_decay)
        self.dropout, self.val_fraction = (number_option(name, o, v) for o, v in (("dropout", dropout),
                                                                                  ("val_fraction", val_fraction)))
        for option, value in (("dropout", self.dropout), ("val_fraction", self.val_fraction)):
            if value >= 1.0:
                raise InputError(f"{name}: {option} must be a number in [0, 1), got {value!r}")
        self.seed, self.device, self.progress = whole_option(name, "seed", seed, 0), device, bool(progress)
        self._net: Any = None
        self._fit_info: dict[str, Any] = {}

    def _raw_init(self, zoo: FittedZoo) -> tuple[np.ndarray, list[str]]:
        names = zoo.model_feature_names()
        return np.hstack([zoo.factors.U, zoo.model_features(names)]), names

    def _init(self, zoo: FittedZoo) -> np.ndarray:
        raw, names = self._raw_init(zoo)
        if names != self._fit_info["feature_names"]:
            raise FennecError("model-spider: the zoo's model features changed since training; refit the zoo")
        mean, std = self._fit_info["init_mean"], self._fit_info["init_std"]
        return np.nan_to_num((raw - mean) / std).astype(np.float32)

    def _free_index(self, zoo: FittedZoo) -> np.ndarray:
        pos = {m: i for i, m in enumerate(self._fit_info["trained_models"])}
        return np.array([pos.get(m, -1) for m in zoo.history.model_ids], dtype=np.int64)

    # -- training ---------------------------------------------------------------------------

    def fit(self, zoo: FittedZoo, task_labels: Mapping[str, Sequence[Any]] | None = None) -> ModelSpiderRanker:
        """Train on the zoo's historical tasks that have proxy embeddings."""
        import torch
        from tqdm.auto import tqdm

        from fennec_core.device import resolve_device
        from fennec_core.plugin_api import weighted_tau

        hist = zoo.history
        tasks = [t for t in hist.task_ids if t in zoo.task_embeddings]
        if len(tasks) < 3:
            raise InputError(f"model-spider needs at least 3 historical tasks with proxy embeddings, got {len(tasks)}; "
                             "fit the zoo with --task-images or --task-embeddings")
        labels = dict(task_labels or {})
        device = resolve_device(self.device)
        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        raw, names = self._raw_init(zoo)
        mean, std = feature_moments(raw)
        self._fit_info = {"feature_names": names, "init_mean": mean, "init_std": std,
                          "trained_models": list(hist.model_ids)}
        init = torch.from_numpy(self._init(zoo)).to(device)
        free_idx = torch.from_numpy(self._free_index(zoo)).to(device)
        n_val = int(round(self.val_fraction * len(tasks))) if len(tasks) >= 5 else 0
        order = rng.permutation(len(tasks))
        val = [tasks[i] for i in order[:n_val]]
        train = [tasks[i] for i in order[n_val:]]
        d = next(iter(zoo.task_embeddings.values())).shape[1]
        net = _net(init.shape[1], d, len(hist.model_ids), self.dim, self.heads, self.layers, self.dropout).to(device)
        opt = torch.optim.AdamW(net.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay)
        steps_per_epoch = -(-len(train) // self.batch_tasks)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(self.epochs * steps_per_epoch, 1))
        targets = {}
        for t in tasks:
            j = hist.task_index(t)
            obs, z = zoo.normalized_column(j)
            targets[t] = (torch.from_numpy(obs).to(device), torch.from_numpy(z.astype(np.float32)).to(device))

        val_tokens = _stack_tokens([task_tokens(zoo.task_embeddings[t], labels.get(t), self.task_tokens, None,
                                                self.seed) for t in val]) if val else None

        def val_score() -> float:
            net.eval()
            with torch.no_grad():
                s = net(init, free_idx, val_tokens[0].to(device), val_tokens[1].to(device)).cpu().numpy()
            net.train()
            taus = [weighted_tau(targets[t][1].cpu().numpy(), s[b, targets[t][0].cpu().numpy()])
                    for b, t in enumerate(val)]
            return float(np.nanmean(taus))

        best, best_state, best_epoch, stale = -np.inf, None, 0, 0
        net.train()
        for epoch in tqdm(range(self.epochs), desc="model-spider", disable=not self.progress, leave=False):
            perm = rng.permutation(len(train))
            for start in range(0, len(train), self.batch_tasks):
                batch = [train[i] for i in perm[start:start + self.batch_tasks]]
                tok, pad = _stack_tokens([task_tokens(zoo.task_embeddings[t], labels.get(t), self.task_tokens,
                                                      rng) for t in batch])
                s = net(init, free_idx, tok.to(device), pad.to(device))
                loss = torch.stack([plackett_luce_loss(s[b, targets[t][0]], targets[t][1])
                                    for b, t in enumerate(batch)]).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
            if val:
                score = val_score()
                if score > best + 1e-6:
                    best, best_state, best_epoch, stale = score, copy.deepcopy(net.state_dict()), epoch, 0
                else:
                    stale += 1
                    if stale >= self.patience:
                        break
        if best_state is not None:
            net.load_state_dict(best_state)
        net.eval()
        self._net = net.to("cpu")
        self._fit_info.update({"train_tasks": train, "val_tasks": val, "epochs_run": epoch + 1,
                               "best_epoch": best_epoch + 1 if val else epoch + 1,
                               "val_weighted_tau": None if not val else float(best), "embed_dim": int(d)})
        return self

    # -- inference --------------------------------------------------------------------------

    def scores(self, zoo: FittedZoo, task_embeddings: np.ndarray, labels: Sequence[Any] | None = None) -> np.ndarray:
        """Fitness of every model of ``zoo`` for a task given by its item embeddings."""
        import torch

        if self._net is None:
            raise FennecError("model-spider: not trained; fit the zoo first")
        E = np.atleast_2d(np.asarray(task_embeddings, dtype=np.float32))
        if E.shape[1] != self._fit_info["embed_dim"] or not np.isfinite(E).all():
            raise InputError(f"model-spider: task embeddings must be finite [n, {self._fit_info['embed_dim']}] "
                             f"(the zoo's proxy), got {E.shape}")
        tok = torch.from_numpy(task_tokens(E, labels, self.task_tokens, None, self.seed))[None]
        with torch.no_grad():
            out = self._net(torch.from_numpy(self._init(zoo)), torch.from_numpy(self._free_index(zoo)), tok)
        return out[0].numpy().astype(np.float64)

    # -- persistence ------------------------------------------------------------------------

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """(arrays, JSON attributes) of the trained ranker."""
        if self._net is None:
            raise FennecError("model-spider: nothing trained to save")
        arrays = {f"net/{k}": v.detach().cpu().numpy() for k, v in self._net.state_dict().items()}
        arrays["init_mean"], arrays["init_std"] = self._fit_info["init_mean"], self._fit_info["init_std"]
        attrs = {k: v for k, v in self._fit_info.items() if k not in ("init_mean", "init_std")}
        return arrays, attrs

    def load_state(self, arrays: Mapping[str, np.ndarray], attributes: Mapping[str, Any]) -> ModelSpiderRanker:
        """Restore a ranker saved by :meth:`state` (arrays and JSON only)."""
        import torch

        self._fit_info = {**attributes, "init_mean": np.asarray(arrays["init_mean"]),
                          "init_std": np.asarray(arrays["init_std"])}
        sd = {k.removeprefix("net/"): torch.from_numpy(np.array(v)) for k, v in arrays.items() if k.startswith("net/")}
        net = _net(sd["model_proj.weight"].shape[1], int(attributes["embed_dim"]), sd["free"].shape[0], self.dim,
                   self.heads, self.layers, self.dropout)
        try:
            net.load_state_dict(sd)
        except RuntimeError as exc:
            raise FennecError(f"model-spider: stored parameters do not fit its configuration ({exc})") from None
        net.eval()
        self._net = net
        return self


def rerank_top_k(ranking_ids: Sequence[str], features: Mapping[str, np.ndarray], labels: np.ndarray, *,
                 k: int = 5, estimator: str = "logme", registry: Any = None) -> list[str]:
    """Reorder the top ``k`` models by the mean of their learned rank and a forward-pass
    estimator's rank on their own features (``features[m]``: [n, d] from a forward pass of m
    on the task's labelled images), ties going to the estimator. Models outside the top k keep
    their places. The estimator is built by ``registry`` (an engine's; default: the process's)."""
    from scipy.stats import rankdata

    from fennec_core.plugin.registry import default_registry

    top = list(ranking_ids[:k])
    missing = [m for m in top if m not in features]
    if missing:
        raise InputError(f"re-ranking needs forward-pass features of every top-{k} model; missing {missing[0]!r}")
    est = (registry or default_registry()).build("estimator", estimator)
    est_scores = np.array([est.score(features=np.asarray(features[m], dtype=np.float64), labels=labels) for m in top])
    learned_rank = np.arange(1, len(top) + 1, dtype=float)
    est_rank = rankdata(-est_scores, method="average")
    mixed = (learned_rank + est_rank) / 2
    # ties go to the estimator: it has seen the model's own features on this task
    new_top = [top[i] for i in np.lexsort((est_rank, mixed))]
    return new_top + list(ranking_ids[k:])


@hookimpl
def fennec_register_rankers(register):
    """Register Model Spider as ``model-spider``."""
    register("model-spider", ModelSpiderRanker)
