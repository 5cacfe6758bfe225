"""Sentence-embedding quality: semantic similarity against human ratings (Lee documents, WordSim-353,
SimLex-999), a cross-validated linear probe on polarity sentences, and with a reference model the mean
cosine between the two models' embeddings on the evaluation sentences and documents (and, apart, on
the benchmark words embedded alone)."""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import openvino as ov

from ov_sparsity.data.text import Tokenizer, lee_benchmark, polarity_sentences, sequence_length, word_pairs
from ov_sparsity.engine.infer import compile_model
from ov_sparsity.errors import OvSparsityError
from ov_sparsity.progress import bar


def embed(model: ov.Model, tokenizer: Tokenizer, texts: Sequence[str], batch_size: int = 32,
          progress: bool = False, desc: str = "embed") -> np.ndarray:
    """[len(texts), dim] embeddings, batches of similar lengths (padding does not change an embedding)."""
    compiled = compile_model(model, hint="THROUGHPUT")
    names = [next(iter(inp.get_names())) for inp in compiled.inputs]
    fixed = sequence_length(model, default=0) or None  # a model exported with --seq-len: every text padded to it
    lengths = [len(t) for t in texts]
    order = np.argsort(lengths, kind="stable")
    out = None
    with bar(total=len(texts), desc=desc, enable=progress, unit="text") as pbar:
        for start in range(0, len(texts), batch_size):
            idx = order[start:start + batch_size]
            inputs = tokenizer.encode([texts[i] for i in idx], names, length=fixed)
            values = compiled(inputs)[compiled.outputs[0]]
            if out is None:
                out = np.empty((len(texts), *values.shape[1:]), np.float32)
            out[idx] = values
            pbar.update(len(idx))
    if out is None or out.ndim != 2:
        raise OvSparsityError("the model's first output is not one embedding per text ([batch, dim])")
    return out


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def pair_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(_unit(a) * _unit(b), axis=1)


def similarity_scores(predicted: np.ndarray, human: np.ndarray) -> tuple[float, float]:
    """(Pearson, Spearman) of predicted similarities against human ratings."""
    from scipy.stats import pearsonr, spearmanr

    return float(pearsonr(predicted, human)[0]), float(spearmanr(predicted, human)[0])


def probe_accuracy(embeddings: np.ndarray, labels: np.ndarray, folds: int = 10, seed: int = 0) -> float:
    """Stratified k-fold accuracy (%) of a logistic-regression probe on frozen embeddings."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return float(100.0 * cross_val_score(LogisticRegression(max_iter=2000), embeddings, labels, cv=cv).mean())


class STSTexts:
    """Every evaluation text once, and where each benchmark finds its embeddings."""

    def __init__(self):
        self.lee_docs, self.lee_human = lee_benchmark()
        self.pairs = {name: word_pairs(f) for name, f in (("wordsim353", "wordsim353.tsv"),
                                                          ("simlex999", "simlex999.txt"))}
        self.polarity, self.polarity_labels = polarity_sentences()
        words = sorted({w for first, second, _ in self.pairs.values() for w in first + second})
        self.texts = list(self.lee_docs) + self.polarity + words
        self.index = {w: len(self.lee_docs) + len(self.polarity) + i for i, w in enumerate(words)}

    def scores(self, emb: np.ndarray) -> dict:
        n_lee, n_pol = len(self.lee_docs), len(self.polarity)
        lee = _unit(emb[:n_lee])
        rows, cols = np.triu_indices(n_lee, k=1)
        pearson, spearman = similarity_scores(np.sum(lee[rows] * lee[cols], axis=1), self.lee_human)
        result = {"lee_pearson": pearson, "lee_spearman": spearman}
        for name, (first, second, human) in self.pairs.items():
            cos = pair_cosines(emb[[self.index[w] for w in first]], emb[[self.index[w] for w in second]])
            result[f"{name}_spearman"] = similarity_scores(cos, human)[1]
        result["polarity_probe_accuracy"] = probe_accuracy(emb[n_lee:n_lee + n_pol], self.polarity_labels)
        return result


def evaluate_sts(model: ov.Model, tokenizer: Tokenizer, reference: Optional[ov.Model] = None,
                 batch_size: int = 32, progress: bool = True) -> dict:
    texts = STSTexts()
    emb = embed(model, tokenizer, texts.texts, batch_size, progress, "embed")
    result = {"texts": len(texts.texts), **texts.scores(emb)}
    if reference is not None:
        ref = embed(reference, tokenizer, texts.texts, batch_size, progress, "reference")
        if ref.shape != emb.shape:
            raise OvSparsityError(f"reference model embeds into {ref.shape[1]} values, the model {emb.shape[1]}")
        cos = pair_cosines(emb, ref)
        sentences = len(texts.lee_docs) + len(texts.polarity)  # held-out sentences and documents
        result["cosine_to_reference"] = float(np.mean(cos[:sentences]))
        result["cosine_to_reference_words"] = float(np.mean(cos[sentences:]))  # single words: short inputs
        result.update({f"reference_{k}": v for k, v in texts.scores(ref).items()})
    return result
