"""Text for sentence encoders: the model's tokenizer, and the evaluation and calibration texts that
the PyPI package gensim ships as test data (read in place, gensim itself is never imported).

Evaluation: the Lee document-similarity benchmark (lee.cor, 50 news documents, with human ratings
in similarities0-1.txt), WordSim-353, SimLex-999, and 200 labelled polarity sentences. Calibration
must come from elsewhere (lee_background.cor, or the user's --data FILE.txt).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import openvino as ov

from ov_sparsity.data.datasets import Dataset
from ov_sparsity.errors import OvSparsityError
from ov_sparsity.userfiles import LARGE, load_json, read_text

TOKENIZER_KEY = ["ov_sparsity", "tokenizer"]
TEXT_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
NOT_FOR_TEXT = ("--data (labelled images) is for image models; evaluate a text model with "
                "`ov-sparsity eval --task sts`")


def is_text_model(model: ov.Model) -> bool:
    names = {name for inp in model.inputs for name in inp.get_names()}
    return "input_ids" in names


class Tokenizer:
    """The model's Hugging Face tokenizer (loaded from its folder with transformers, no downloads);
    encode() gives the model's int64 inputs, padded to the longest text of the batch and truncated at
    sentence-transformers' max_seq_length where the folder says it, else the tokenizer's own limit."""

    def __init__(self, folder: str | Path, max_length: Optional[int] = None):
        folder = Path(folder)
        if not (folder / "tokenizer_config.json").is_file() and not (folder / "vocab.txt").is_file():
            raise OvSparsityError(f"no tokenizer in {folder} (expected tokenizer_config.json or vocab.txt)")
        import transformers
        from transformers import AutoTokenizer

        transformers.logging.set_verbosity_error()
        self.tok = AutoTokenizer.from_pretrained(str(folder), local_files_only=True, trust_remote_code=False)
        if max_length is None and (folder / "sentence_bert_config.json").is_file():
            config = load_json(folder / "sentence_bert_config.json", "sentence-transformers config")
            max_length = config.get("max_seq_length") if isinstance(config, dict) else None
        self.max_length = int(max_length or min(self.tok.model_max_length, 512))
        self.folder = folder

    def encode(self, texts: Sequence[str], input_names: Sequence[str] = TEXT_INPUTS,
               length: Optional[int] = None) -> dict:
        """`length`: pad (and truncate) every text to exactly this many tokens (a model of fixed length)."""
        padding = "max_length" if length else True
        enc = self.tok(list(texts), padding=padding, truncation=True, max_length=length or self.max_length,
                       return_tensors="np")
        return {name: np.asarray(enc[name], dtype=np.int64) for name in input_names}


def model_tokenizer(model: ov.Model, folder: Optional[str] = None) -> Tokenizer:
    """The tokenizer the exporter recorded in the IR (or the one given)."""
    if folder is None:
        if not model.has_rt_info(TOKENIZER_KEY):
            raise OvSparsityError("the model records no tokenizer: export it with `ov-sparsity zoo export "
                                  "minilm_l6`, or pass --tokenizer DIR")
        folder = model.get_rt_info(TOKENIZER_KEY).astype(str)
    if not Path(folder).is_dir():
        raise OvSparsityError(f"tokenizer folder not found: {folder}")
    return Tokenizer(folder)


def gensim_test_data(name: str) -> Path:
    """A file of gensim's test data (gensim/test/test_data/NAME), located without importing gensim."""
    try:
        spec = importlib.util.find_spec("gensim")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise OvSparsityError("the STS evaluation reads the test data of the PyPI package gensim: "
                              "pip install --no-deps gensim")
    path = Path(list(spec.submodule_search_locations)[0]) / "test" / "test_data" / name
    if not path.is_file():
        raise OvSparsityError(f"gensim's test data has no {name} (gensim {path.parents[2]})")
    return path


def read_lines(path: Path, encoding: str = "utf-8") -> list:
    """Non-empty lines of a text file (UTF-8 unless told), one passage each."""
    text = read_text(path, "text file", LARGE, encoding=encoding)
    lines = [line.strip() for line in text.splitlines() if _printable(line)]
    if not lines:
        raise OvSparsityError(f"{path} holds no text (one passage per line expected; blank lines, NUL and "
                              "control characters are not text)")
    return lines


def _printable(line: str) -> bool:
    """Whether a line holds anything beyond whitespace, NUL and other control characters."""
    import unicodedata

    return any(not ch.isspace() and not unicodedata.category(ch).startswith("C") for ch in line)


def lee_benchmark() -> tuple[list, np.ndarray]:
    """(50 documents, their 1,225 human similarity ratings for pairs i < j, row-major)."""
    docs = read_lines(gensim_test_data("lee.cor"), "latin-1")  # gensim's Lee corpus is Latin-1
    matrix = np.loadtxt(gensim_test_data("similarities0-1.txt"))
    if matrix.shape != (len(docs), len(docs)):
        raise OvSparsityError(f"Lee ratings are {matrix.shape}, expected {len(docs)}x{len(docs)}")
    return docs, matrix[np.triu_indices(len(docs), k=1)]


def word_pairs(name: str) -> tuple[list, list, np.ndarray]:
    """(first words, second words, human scores) of wordsim353.tsv or simlex999.txt."""
    first, second, scores = [], [], []
    for line in read_lines(gensim_test_data(name), "latin-1"):
        if line.startswith("#"):
            continue
        a, b, s = line.split("\t")[:3]
        first.append(a)
        second.append(b)
        scores.append(float(s))
    return first, second, np.asarray(scores)


def polarity_sentences() -> tuple[list, np.ndarray]:
    """(200 sentences, labels 0 = negative, 1 = positive)."""
    texts, labels = [], []
    for line in read_lines(gensim_test_data("pang_lee_polarity.cor"), "latin-1"):
        label, _, text = line.partition(" ")
        texts.append(text)
        labels.append(1 if label == "__label__pos" else 0)
    return texts, np.asarray(labels)


def model_inputs(ids: np.ndarray, mask: np.ndarray, names: Sequence[str]) -> dict:
    """One sample's inputs by name (token types all zero: one segment)."""
    arrays = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
    return {name: arrays[name] for name in names}


def sequence_length(model: ov.Model, default: int = 128) -> int:
    """The model's fixed sequence length, else `default`."""
    ps = model.input(0).get_partial_shape()
    return ps[1].get_length() if ps.rank.is_static and len(ps) == 2 and ps[1].is_static else default


POSITIONS_KEY = ["ov_sparsity", "max_positions"]
MAX_POSITIONS = 1 << 16  # the --seq-len range's top: no text model has more token positions


def max_positions(model: ov.Model) -> Optional[int]:
    """How many token positions the model has (BERT's max_position_embeddings): recorded by the
    exporter, else read from the config.json beside the tokenizer it records; None where neither says."""
    if model.has_rt_info(POSITIONS_KEY):
        text = model.get_rt_info(POSITIONS_KEY).astype(str)
        if not text.isdigit() or not 0 < int(text) <= MAX_POSITIONS:
            raise OvSparsityError(f"the token positions the IR records (rt_info) must be a count in "
                                  f"[1, {MAX_POSITIONS}], got {text[:40]!r}")
        return int(text)
    if model.has_rt_info(TOKENIZER_KEY):
        config = Path(model.get_rt_info(TOKENIZER_KEY).astype(str)) / "config.json"
        try:
            value = load_json(config, "tokenizer config")
        except OvSparsityError:
            return None
        value = value.get("max_position_embeddings") if isinstance(value, dict) else None
        if isinstance(value, int) and 0 < value <= MAX_POSITIONS:
            return value
    return None


def default_seq_len(model: ov.Model) -> int:
    """The model's fixed sequence length, else 128 tokens (fewer where the model has fewer positions)."""
    fixed = sequence_length(model, default=0)
    return fixed or min(128, max_positions(model) or 128)


def check_seq_len(model: ov.Model, seq_len: int, flag: str = "--seq-len") -> int:
    """`seq_len` if the text model takes it: within RANGES' bounds, at most the model's positions and, for
    a model of fixed length, that length."""
    from ov_sparsity.validate import RANGES, checked

    checked(flag, seq_len, RANGES["seq_len"])
    fixed = sequence_length(model, default=0)
    if fixed and seq_len != fixed:
        raise OvSparsityError(f"the model takes sequences of {fixed} tokens, {flag} asks {seq_len}")
    positions = max_positions(model)
    if positions is not None and seq_len > positions:
        raise OvSparsityError(f"{flag} {seq_len} is beyond the model's {positions} token positions")
    return seq_len


class TextDataset(Dataset):
    """Calibration passages for a text model, tokenized and packed into windows of `seq_len` tokens
    ([CLS] ... [SEP], passages joined by [SEP]), so no position is padding but in the last window.
    Items: ({input name: int64 [seq_len]}, -1)."""

    def __init__(self, texts: Sequence[str], tokenizer: Tokenizer, seq_len: int = 128,
                 input_names: Sequence[str] = TEXT_INPUTS, description: str = "text"):
        tok = tokenizer.tok
        if seq_len < 3:
            raise OvSparsityError(f"sequence length {seq_len} leaves no room for text")
        stream = []
        for ids in tok(list(texts), add_special_tokens=False)["input_ids"]:
            if ids:
                stream += list(ids) + [tok.sep_token_id]
        if not stream:
            raise OvSparsityError(f"{description} gives no tokens: the model's tokenizer reads nothing in it")
        body = seq_len - 2
        self.windows = []
        for start in range(0, len(stream), body):
            ids = [tok.cls_token_id, *stream[start:start + body], tok.sep_token_id]
            mask = [1] * len(ids) + [0] * (seq_len - len(ids))
            ids = ids + [tok.pad_token_id] * (seq_len - len(ids))
            self.windows.append((np.asarray(ids, np.int64), np.asarray(mask, np.int64)))
        self.input_names = list(input_names)
        self.seq_len = seq_len
        self.tokens = len(stream)
        self.description = f"{len(self.windows)} windows of {seq_len} tokens from {description}"

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, i: int):
        return model_inputs(*self.windows[i], self.input_names), -1


def check_text_model(model: ov.Model) -> list:
    """The names of a text model's inputs, each one of TEXT_INPUTS ([batch, sequence] integers)."""
    names = []
    for inp in model.inputs:
        name = next((n for n in inp.get_names() if n in TEXT_INPUTS), None)
        if name is None or len(inp.get_partial_shape()) != 2:
            raise OvSparsityError(f"text model input {inp.get_any_name()} {inp.get_partial_shape()}: expected "
                                  f"[batch, sequence] inputs named {', '.join(TEXT_INPUTS)}")
        names.append(name)
    return names


def _word_ranks(tok) -> np.ndarray:
    """Whole-word vocabulary ids in vocabulary order, which for BERT's word pieces follows frequency
    (common words first): no special, unused or continuation (##) pieces, no single characters."""
    vocab = tok.get_vocab()
    words = [(i, w) for w, i in vocab.items()
             if len(w) > 1 and w.isalpha() and not w.startswith("##") and not w.startswith("[")]
    return np.asarray([i for i, _ in sorted(words)], dtype=np.int64)


class SyntheticTextDataset(Dataset):
    """Data-free calibration text, our counterpart of fractals for text models.

    kind 'zipf': words drawn from the tokenizer's vocabulary with a Zipf prior over their vocabulary
    rank (p ∝ 1/(rank + 2.7)), in sentences of 6-24 words ending in a full stop;
    kind 'noise': uniformly random token ids (the text "white noise")."""

    def __init__(self, kind: str, n: int, tokenizer: Tokenizer, seq_len: int = 128,
                 input_names: Sequence[str] = TEXT_INPUTS, seed: int = 0):
        if kind not in ("zipf", "noise"):
            raise OvSparsityError(f"unknown synthetic text '{kind}' (known: zipf, noise)")
        tok = tokenizer.tok
        rng = np.random.default_rng(seed)
        body = seq_len - 2
        if kind == "noise":
            special = set(tok.all_special_ids)
            pool = np.asarray([i for i in range(len(tok)) if i not in special], dtype=np.int64)
            rows = pool[rng.integers(0, len(pool), size=(n, body))]
        else:
            words = _word_ranks(tok)
            p = 1.0 / (np.arange(len(words)) + 2.7)
            p /= p.sum()
            stop = tok.convert_tokens_to_ids(".")
            rows = np.empty((n, body), dtype=np.int64)
            for r in range(n):
                out = []
                while len(out) < body:
                    out += list(rng.choice(words, size=int(rng.integers(6, 25)), p=p)) + [stop]
                rows[r] = out[:body]
        cls = np.full((n, 1), tok.cls_token_id, np.int64)
        sep = np.full((n, 1), tok.sep_token_id, np.int64)
        self.ids = np.concatenate([cls, rows, sep], axis=1)
        self.input_names = list(input_names)
        self.description = f"{n} synthetic '{kind}' windows of {seq_len} tokens"

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int):
        return model_inputs(self.ids[i], np.ones_like(self.ids[i]), self.input_names), -1
