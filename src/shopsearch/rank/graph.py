"""A LightGCN-style graph model on the user-product graph, product nodes started from their features.

Nodes are users and products; an edge joins a user to a product the user interacted with
positively (net decayed event weight > 0, :func:`shopsearch.rank.cf.interaction_weights`).

* Layer 0: a user has a free embedding; a product's is ``features @ W + id_embedding``, where
  ``features`` are its multimodal vectors (e.g. the joint image vector next to the text vector,
  :func:`shopsearch.rank.profile.product_features`), ``W`` a learned projection and the id
  embedding a learned correction that starts at zero.
* Propagation (LightGCN, He et al. 2020): ``E_{l+1} = D^-1/2 A D^-1/2 E_l``, no weights or
  non-linearities; the final embedding is the mean of layers 0..L.
* Training: BPR loss (Rendle et al. 2009) on (user, interacted product, random product)
  triples with L2 on the layer-0 embeddings of the batch; Adam; seeded; CPU.

A product the graph has never seen (no node) still scores: its final embedding is what an
isolated node would get, ``(features @ W) / (L + 1)`` (layers >= 1 of an isolated node are 0).
Requires torch (a core dependency).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from shopsearch.rank.cf import as_event_list, interaction_weights
from shopsearch.rank.events import Event

__all__ = ["GraphModel"]

logger = logging.getLogger(__name__)

GRAPH_FORMAT = 1


class GraphModel:
    """Final user and product embeddings of a trained graph model plus its feature projection."""

    def __init__(self, user_ids: Sequence[str], product_ids: Sequence[str], user_emb: np.ndarray,
                 item_emb: np.ndarray, projection: np.ndarray, layers: int,
                 params: Mapping[str, Any] | None = None) -> None:
        self.user_ids = list(user_ids)
        self.product_ids = list(product_ids)
        self.user_emb = np.ascontiguousarray(user_emb, dtype=np.float32)
        self.item_emb = np.ascontiguousarray(item_emb, dtype=np.float32)
        self.projection = np.ascontiguousarray(projection, dtype=np.float32)
        self.layers = int(layers)
        self.params = dict(params or {})
        if self.user_emb.shape[0] != len(self.user_ids) or self.item_emb.shape[0] != len(self.product_ids):
            raise ValueError(f"GraphModel: {len(self.user_ids)} users / {len(self.product_ids)} products but "
                             f"embedding shapes {self.user_emb.shape} / {self.item_emb.shape}")
        self._users = {u: i for i, u in enumerate(self.user_ids)}
        self._items = {p: i for i, p in enumerate(self.product_ids)}

    @property
    def feature_dim(self) -> int:
        return int(self.projection.shape[0])

    @classmethod
    def fit(
        cls, events: Iterable[Event], product_ids: Sequence[str], product_features: np.ndarray, *,
        dim: int = 64, layers: int = 2, epochs: int = 30, lr: float = 0.01, reg: float = 1e-4,
        batch_size: int = 2048, half_life_days: float | None = 30.0, now: float | None = None, seed: int = 0,
    ) -> GraphModel:
        """Train on ``events`` (list of :class:`Event` or an ``EventLog``).

        ``product_features``: float32 (len(product_ids), d), one row per product id, in order.
        """
        import torch

        feats = np.asarray(product_features, dtype=np.float32)
        if feats.ndim != 2 or feats.shape[0] != len(product_ids):
            raise ValueError(f"product_features must have shape ({len(product_ids)}, d), got {feats.shape}")
        if dim < 1 or layers < 0 or epochs < 1:
            raise ValueError(f"GraphModel.fit: dim and epochs must be >= 1 and layers >= 0, got {dim}, {layers}, "
                             f"{epochs}")
        items = {p: i for i, p in enumerate(product_ids)}
        pairs = interaction_weights(as_event_list(events), half_life_days=half_life_days, now=now)
        edges = sorted((u, p) for (u, p), w in pairs.items() if w > 0 and p in items)
        user_ids = sorted({u for u, _ in edges})
        users = {u: i for i, u in enumerate(user_ids)}
        n_u, n_i = len(user_ids), len(product_ids)
        params = {"dim": dim, "layers": layers, "epochs": epochs, "lr": lr, "reg": reg, "batch_size": batch_size,
                  "half_life_days": half_life_days, "seed": seed, "edges": len(edges)}
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        x = torch.from_numpy(feats)
        proj = torch.nn.Linear(feats.shape[1], dim, bias=False)
        id_emb = torch.nn.Parameter(torch.zeros(n_i, dim))
        user_emb = torch.nn.Parameter(torch.randn(n_u, dim, generator=gen) * 0.1)
        if not edges:
            logger.warning("graph model: no positive interactions; only the feature projection (untrained) is kept")
            w = proj.weight.detach().numpy().T.copy()
            return cls([], list(product_ids), np.zeros((0, dim), np.float32),
                       feats @ w / (layers + 1), w, layers, params)
        # Only products with edges take part in propagation; every other product is an isolated
        # node whose final embedding is exactly e0 / (L + 1), computed directly (same model, far
        # less work per step than propagating the whole catalog).
        active = np.array(sorted({items[p] for _, p in edges}), dtype=np.int64)
        local = np.full(n_i, -1, dtype=np.int64)
        local[active] = np.arange(len(active))
        act_t, local_t = torch.from_numpy(active), torch.from_numpy(local)
        u_idx = torch.tensor([users[u] for u, _ in edges], dtype=torch.long)
        i_idx = torch.tensor([items[p] for _, p in edges], dtype=torch.long)
        adj = _norm_adj(u_idx, local_t[i_idx], n_u, len(active))
        positives = set(zip(u_idx.tolist(), i_idx.tolist()))
        opt = torch.optim.Adam([*proj.parameters(), id_emb, user_emb], lr=lr)
        t0 = time.perf_counter()
        loss_value = float("nan")

        def item_final(final: Any, idx: Any) -> Any:
            """Final embeddings of catalog items ``idx``: propagated when active, else isolated."""
            loc = local_t[idx]
            iso = (proj(x[idx]) + id_emb[idx]) / (layers + 1)
            prop = final[n_u + loc.clamp(min=0)]
            return torch.where((loc >= 0)[:, None], prop, iso)

        for _ in range(epochs):
            order = torch.randperm(len(edges), generator=gen)
            for start in range(0, len(edges), batch_size):
                b = order[start:start + batch_size]
                bu, bi = u_idx[b], i_idx[b]
                bj = torch.randint(0, n_i, (len(b),), generator=gen)
                # resample negatives that happen to be positives (once; the rest is noise BPR tolerates)
                clash = torch.tensor([(u, j) in positives for u, j in zip(bu.tolist(), bj.tolist())])
                if clash.any():
                    bj[clash] = torch.randint(0, n_i, (int(clash.sum()),), generator=gen)
                item0 = proj(x[act_t]) + id_emb[act_t]
                final = _propagate(adj, torch.cat([user_emb, item0]), layers)
                fu, fi, fj = final[bu], final[n_u + local_t[bi]], item_final(final, bj)
                bpr = -torch.nn.functional.logsigmoid((fu * fi).sum(1) - (fu * fj).sum(1)).mean()
                e0_j = proj(x[bj]) + id_emb[bj]
                l2 = (user_emb[bu].pow(2).sum() + item0[local_t[bi]].pow(2).sum() + e0_j.pow(2).sum()) / len(b)
                loss = bpr + reg * l2
                opt.zero_grad()
                loss.backward()
                opt.step()
                loss_value = float(bpr.detach())
        with torch.no_grad():
            final = _propagate(adj, torch.cat([user_emb, proj(x[act_t]) + id_emb[act_t]]), layers)
            items_out = (proj(x) + id_emb) / (layers + 1)
            items_out[act_t] = final[n_u:]
        params.update(final_bpr=loss_value, seconds=round(time.perf_counter() - t0, 2))
        logger.info("graph model: %d users, %d products (%d with interactions), %d edges, %d epochs in %.1fs "
                    "(BPR %.4f)", n_u, n_i, len(active), len(edges), epochs, params["seconds"], loss_value)
        return cls(user_ids, list(product_ids), final[:n_u].numpy(), items_out.numpy(),
                   proj.weight.detach().numpy().T.copy(), layers, params)

    def has_user(self, user_id: str | None) -> bool:
        return user_id is not None and user_id in self._users

    def embed_products(self, product_ids: Sequence[str], product_features: np.ndarray | None = None) -> np.ndarray:
        """Final embeddings (n, dim) float32: trained ones for known products, ``features @ W / (L+1)``
        for unknown ones whose feature row is given, zeros otherwise."""
        out = np.zeros((len(product_ids), self.item_emb.shape[1]), dtype=np.float32)
        idx = np.array([self._items.get(p, -1) for p in product_ids], dtype=np.int64)
        known = idx >= 0
        out[known] = self.item_emb[idx[known]]
        if product_features is not None and (~known).any():
            feats = np.asarray(product_features, dtype=np.float32)
            if feats.shape != (len(product_ids), self.feature_dim):
                raise ValueError(f"product_features must have shape ({len(product_ids)}, {self.feature_dim}), "
                                 f"got {feats.shape}")
            out[~known] = feats[~known] @ self.projection / (self.layers + 1)
        return out

    def score(self, user_id: str | None, product_ids: Sequence[str],
              product_features: np.ndarray | None = None) -> np.ndarray:
        """float32 (n,): user . product embedding; 0.0 for an unknown user (or an unknown product
        without a feature row)."""
        u = self._users.get(user_id) if user_id is not None else None
        if u is None:
            return np.zeros(len(product_ids), dtype=np.float32)
        return self.embed_products(product_ids, product_features) @ self.user_emb[u]

    def save(self, folder: str | Path) -> None:
        """Write ``embeddings.npz`` and ``graph.json`` (ids, parameters, format) into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        np.savez(folder / "embeddings.npz", user_emb=self.user_emb, item_emb=self.item_emb,
                 projection=self.projection)
        meta = {"format": GRAPH_FORMAT, "kind": "lightgcn-features", "layers": self.layers,
                "user_ids": self.user_ids, "product_ids": self.product_ids, "params": self.params}
        (folder / "graph.json").write_text(json.dumps(meta), encoding="utf-8")

    @classmethod
    def load(cls, folder: str | Path) -> GraphModel:
        folder = Path(folder)
        meta_path = folder / "graph.json"
        if not meta_path.is_file():
            raise FileNotFoundError(f"no graph model in {folder} (missing graph.json)")
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("format") != GRAPH_FORMAT:
            raise ValueError(f"{meta_path}: graph model format {meta.get('format')!r}, this version reads "
                             f"{GRAPH_FORMAT}")
        with np.load(folder / "embeddings.npz") as data:
            return cls(meta["user_ids"], meta["product_ids"], data["user_emb"], data["item_emb"],
                       data["projection"], meta["layers"], meta.get("params"))


def _norm_adj(u_idx: Any, i_idx: Any, n_u: int, n_i: int) -> Any:
    """Symmetric normalised adjacency D^-1/2 A D^-1/2 of the bipartite graph, sparse (n_u+n_i)^2."""
    import torch

    rows = torch.cat([u_idx, n_u + i_idx])
    cols = torch.cat([n_u + i_idx, u_idx])
    n = n_u + n_i
    deg = torch.bincount(rows, minlength=n).float()
    inv = deg.pow(-0.5)
    inv[torch.isinf(inv)] = 0.0
    values = inv[rows] * inv[cols]
    return torch.sparse_coo_tensor(torch.stack([rows, cols]), values, (n, n), check_invariants=False).coalesce()


def _propagate(adj: Any, e0: Any, layers: int) -> Any:
    import torch

    out, e = e0, e0
    for _ in range(layers):
        e = torch.sparse.mm(adj, e)
        out = out + e
    return out / (layers + 1)
