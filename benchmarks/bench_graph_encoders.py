"""Compare graph encoders for new-model cold start on the 105-model table: graph2vec versus the
DGL GIN (contrastive, and supervised on the training models' transfer rows).

Protocol (5-fold over models, seeded): the rows of one fifth of the models are hidden; the
encoder (and, for the supervised GIN, its targets: the training models' z-scored history
rows), the PCA of its vectors, the zoo and the cold-start regressor are all fitted on the
other four fifths; the hidden models are added with ``Fennec.add_models`` from their
architecture alone and their predicted scores collected. Per task, the 105 held-out
predictions are compared with the truth (Pearson x100 and weighted tau), then averaged over
tasks. Every variant includes the five architecture meta features (log10 params, conv+linear,
depth, log10 FLOPs, input size); "meta only" has nothing else. Run (needs pytorchcv, karateclub,
dgl; captures are cached in ~/.cache/fennec):

    python benchmarks/bench_graph_encoders.py
"""

from __future__ import annotations

import time

import numpy as np


def main() -> None:
    from fennec_core import registry
    from fennec_core.architecture.encoding import describe_architecture, encode_graphs
    from fennec_core.architecture.graph_io import ArchCache
    from fennec_core.engine import Fennec
    from fennec_core.io.bundled import data_path
    from fennec_core.io.tables import read_history, read_models, read_tasks
    from fennec_core.metrics import pearson, weighted_tau
    from fennec_core.records import History, ModelCard

    history = read_history(data_path("zoo105_history.csv"))
    tasks = read_tasks(data_path("zoo105_tasks.csv"))
    base = {c.id: c for c in read_models(data_path("zoo105_models.csv"))}
    cache = ArchCache()
    t0 = time.perf_counter()
    described = {m: describe_architecture(base[m].architecture, m, cache=cache) for m in history.model_ids}
    print(f"architectures: {time.perf_counter() - t0:.1f} s ({cache.hits} cached, {cache.misses} captured)")
    meta_cards = {m: ModelCard(m, base[m].architecture, described[m][1]) for m in history.model_ids}
    graphs = {m: described[m][0] for m in history.model_ids}

    z = (history.scores - history.scores.mean(0)) / history.scores.std(0)
    rng = np.random.default_rng(0)
    folds = np.array_split(rng.permutation(len(history.model_ids)), 5)
    variants = {
        "meta only (5 features)": None,
        "graph2vec, PCA 4": ("graph2vec", {}, False),
        "dgl-gin contrastive, PCA 4": ("dgl-gin", {}, False),
        "dgl-gin supervised, PCA 4": ("dgl-gin", {}, True),
    }
    rows = []
    for name, spec in variants.items():
        t0 = time.perf_counter()
        pred = np.full(history.scores.shape, np.nan)
        for fold in folds:
            test = [history.model_ids[i] for i in fold]
            train_idx = np.setdiff1d(np.arange(len(history.model_ids)), fold)
            train = [history.model_ids[i] for i in train_idx]
            cards = {m: meta_cards[m] for m in history.model_ids}
            if spec is not None:
                enc_name, cfg, supervised = spec
                if supervised:
                    enc = registry.create("graph_encoder", enc_name, **cfg)
                    enc.fit([graphs[m] for m in train], targets=z[train_idx])
                    vec_train = enc.transform([graphs[m] for m in train])
                    vec_test = enc.transform([graphs[m] for m in test])
                    from sklearn.decomposition import PCA

                    pca = PCA(4, random_state=0).fit(vec_train)
                    feats = dict(zip(train + test, [
                        {f"arch_pc_{j}": float(v) for j, v in enumerate(r)}
                        for r in pca.transform(np.vstack([vec_train, vec_test]))], strict=True))
                else:
                    extra, encoding = encode_graphs([graphs[m] for m in train], encoder=enc_name,
                                                    encoder_config=cfg, dims=4)
                    feats = dict(zip(train, extra, strict=True))
                    feats.update(zip(test, encoding.encode_new([graphs[m] for m in test]), strict=True))
                cards = {m: ModelCard(m, c.architecture, {**c.meta, **feats[m]}) for m, c in cards.items()}
            sub = History(train, history.task_ids, history.scores[train_idx], history.mask[train_idx])
            eng = Fennec(device="cpu").fit(sub, [cards[m] for m in train], tasks)
            eng.add_models([cards[m] for m in test])
            pred[fold] = eng.predict_cells(test, history.task_ids)
        p = np.mean([pearson(history.scores[:, j], pred[:, j]) for j in range(len(history.task_ids))])
        w = np.mean([weighted_tau(history.scores[:, j], pred[:, j]) for j in range(len(history.task_ids))])
        rows.append((name, p, w, time.perf_counter() - t0))
    print("\n| model features (5-fold over models) | Pearson x100 | weighted tau | seconds |")
    print("|---|---|---|---|")
    for name, p, w, s in rows:
        print(f"| {name} | {p:.1f} | {w:.3f} | {s:.1f} |")


if __name__ == "__main__":
    main()
