"""Interaction files and what the engine feeds a recommender.

A file holds one interaction per line: user, item, then optionally rating and timestamp, separated by tabs,
commas or spaces; a header line (RecBole's `user_id:token ...`) or `#` comments are skipped. Raw ids are
mapped to the model's embedding rows by the id lists the IR records (zoo export); pairs with ids the model
never saw are left out (and counted)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Optional, Union

import numpy as np
import openvino as ov
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from ov_sparsity.data.datasets import Dataset
from ov_sparsity.errors import OvSparsityError
from ov_sparsity.userfiles import LARGE, first_error, parse_json, read_text

INPUTS = ("user", "item")
KEY = ["ov_sparsity", "recommender"]  # rt_info: JSON {ratings, users, items, seed}


def is_recommender(model: ov.Model) -> bool:
    names = {name for inp in model.inputs for name in inp.get_names()}
    return all(n in names for n in INPUTS) and len(model.inputs) == 2


class Recorded(BaseModel):
    """The rt_info a zoo export records (JSON): its ratings file, the raw id lists in embedding-row order."""
    model_config = ConfigDict(extra="allow")
    ratings: Annotated[str, Field(strict=True, min_length=1)]
    users: list[Union[StrictStr, StrictInt]]
    items: list[Union[StrictStr, StrictInt]]


def recorded(model: ov.Model) -> dict:
    """What the zoo export recorded: the ratings file, the raw id lists (embedding row order), the seed;
    each id list no longer than the embedding table it indexes."""
    if not model.has_rt_info(KEY):
        raise OvSparsityError("this recommender records no id lists (export it with `ov-sparsity zoo export "
                              "ncf_movielens100k`): its raw user/item ids cannot be mapped to embedding rows")
    what = "the recommender's recorded interactions (rt_info ov_sparsity/recommender)"
    data = parse_json(model.get_rt_info(KEY).astype(str), what)
    try:
        Recorded.model_validate(data)
    except ValidationError as exc:
        raise OvSparsityError(f"{what}: {first_error(exc)}") from None
    for name, rows in table_rows(model).items():
        if len(data[f"{name}s"]) > rows:
            raise OvSparsityError(f"{what} names {len(data[name + 's'])} {name}s, but the model's {name} embedding "
                                  f"tables have {rows} rows")
    return data


def table_rows(model: ov.Model) -> dict:
    """{'user': rows, 'item': rows}: the fewest rows of the embedding tables (Gather data) each input indexes."""
    rows = {}
    for port in model.inputs:
        name = next((n for n in port.get_names() if n in INPUTS), None)
        if name is None:
            continue
        frontier, seen = [port], []
        for _ in range(3):  # through a Convert or two
            nxt = []
            for out in frontier:
                for target in out.get_target_inputs():
                    node = target.get_node()
                    if node.get_type_name() == "Gather" and target.get_index() == 1:
                        shape = node.input_value(0).get_partial_shape()
                        if shape.rank.is_static and shape[0].is_static:
                            seen.append(shape[0].get_length())
                    elif node.get_type_name() == "Convert":
                        nxt += list(node.outputs())
            frontier = nxt
        if seen:
            rows[name] = min(seen)
    return rows


@dataclass
class Interactions:
    users: np.ndarray  # embedding rows
    items: np.ndarray
    times: np.ndarray  # timestamps (file order where the file has none)
    n_users: int
    n_items: int
    skipped: int = 0  # pairs with ids the model has no row for

    def leave_one_out(self) -> tuple:
        """(train index, test index per user): each user's latest interaction is held out (ties: the last
        in file order), as in the NCF paper; users with one interaction keep it for training."""
        order = np.lexsort((np.arange(len(self.users)), self.times, self.users))  # user, time, file order
        u_sorted = self.users[order]
        ends = np.r_[np.nonzero(u_sorted[1:] != u_sorted[:-1])[0], len(order) - 1]  # each user's last
        starts = np.r_[0, ends[:-1] + 1]
        test = order[ends[ends > starts]]
        mask = np.ones(len(self.users), bool)
        mask[test] = False
        return np.nonzero(mask)[0], test

    def seen(self) -> list:
        """Per user, the set of items interacted with."""
        sets = [set() for _ in range(self.n_users)]
        for u, i in zip(self.users.tolist(), self.items.tolist()):
            sets[u].add(i)
        return sets


def _rows(path: Path) -> list:
    text = read_text(path, "interactions file", LARGE)
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.replace(",", " ").replace("\t", " ").split()
        if len(parts) < 2:
            raise OvSparsityError(f"{path}:{n}: an interaction needs a user and an item, got {line[:60]!r}")
        if not rows and ":" in parts[0]:  # RecBole's typed header
            continue
        rows.append(parts[:4])
    if not rows:
        raise OvSparsityError(f"{path}: no interactions")
    return rows


def read_interactions(path, users: Optional[list] = None, items: Optional[list] = None) -> Interactions:
    """users/items: raw ids in embedding-row order (None: every id in the file, sorted numerically where
    they are numbers)."""
    rows = _rows(Path(path))
    raw_u = [r[0] for r in rows]
    raw_i = [r[1] for r in rows]
    users = users if users is not None else _sorted_ids(raw_u)
    items = items if items is not None else _sorted_ids(raw_i)
    u_index, i_index = {u: k for k, u in enumerate(users)}, {i: k for k, i in enumerate(items)}
    keep = [k for k in range(len(rows)) if raw_u[k] in u_index and raw_i[k] in i_index]
    if not keep:
        raise OvSparsityError(f"{path}: none of its user/item ids is one the model knows")
    try:
        times = np.array([float(rows[k][3]) if len(rows[k]) > 3 else float(k) for k in keep])
    except ValueError:
        raise OvSparsityError(f"{path}: the fourth column (timestamp) must be a number") from None
    return Interactions(np.array([u_index[raw_u[k]] for k in keep], np.int64),
                        np.array([i_index[raw_i[k]] for k in keep], np.int64), times, len(users), len(items),
                        skipped=len(rows) - len(keep))


def _sorted_ids(raw: list) -> list:
    unique = set(raw)
    try:
        return sorted(unique, key=lambda v: (int(v), v))
    except ValueError:
        return sorted(unique)


class PairDataset(Dataset):
    """(user, item) samples as the model's named inputs: dicts of int64 scalars; label -1."""

    def __init__(self, users: np.ndarray, items: np.ndarray, description: str):
        self.users, self.items, self.description = users.astype(np.int64), items.astype(np.int64), description

    def __len__(self) -> int:
        return len(self.users)

    def __getitem__(self, i: int):
        return {"user": self.users[i], "item": self.items[i]}, -1


def calibration_pairs(model: ov.Model, source: str, n: int, seed: int) -> PairDataset:
    """`ratings`: the training interactions of the file the IR records (each user's held-out item left out),
    with as many sampled negatives (items the user never rated); a path: a user's own file, likewise;
    `noise`: random user and item ids (data-free)."""
    rec = recorded(model)
    rng = np.random.default_rng(seed)
    if source == "noise":
        return PairDataset(rng.integers(0, len(rec["users"]), n), rng.integers(0, len(rec["items"]), n),
                           "random user and item ids")
    path = Path(rec["ratings"] if source == "ratings" else source)
    data = read_interactions(path, rec["users"], rec["items"])
    train, _ = data.leave_one_out() if source == "ratings" else (np.arange(len(data.users)), None)
    pos = rng.choice(train, size=min(len(train), (n + 1) // 2), replace=False)
    seen = data.seen()
    neg_users = data.users[pos][: n - len(pos)]
    neg_users = neg_users[[len(seen[u]) < data.n_items for u in neg_users.tolist()]]  # a user who rated every
    neg_items = np.array([_negative(rng, seen[u], data.n_items) for u in neg_users.tolist()], np.int64)  # item has none
    users = np.concatenate([data.users[pos], neg_users])
    items = np.concatenate([data.items[pos], neg_items])
    order = rng.permutation(len(users))
    what = "training interactions" if source == "ratings" else "interactions"
    return PairDataset(users[order], items[order], f"{what} of {path.name} and as many sampled negatives")


def _negative(rng, seen: set, n_items: int) -> int:
    """An item the user never rated, drawn uniformly; the user must have one (callers leave out those who
    rated every item)."""
    if len(seen) >= n_items:
        raise ValueError("the user rated every item: no negative to sample")
    while True:
        item = int(rng.integers(0, n_items))
        if item not in seen:
            return item
