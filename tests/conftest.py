import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("OV_SPARSITY_PROGRESS", "0")

from tests.models import build, save  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared"


def shared_or_skip(*parts) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"integration data absent: {path} (../shared is not beside this checkout)")
    return path


@pytest.fixture
def model_xml(tmp_path):
    """Save a registry model as IR and return its .xml path."""
    def make(name="conv_bias_relu", seed=0, **kwargs):
        return Path(save(build(name, seed, **kwargs), tmp_path / f"{name}_{seed}.xml"))
    return make


@pytest.fixture
def image_folder(tmp_path):
    """A tiny labelled image folder: 4 classes (the registry models' outputs) x 6 images of 32x32 pixels."""
    root = tmp_path / "images"
    rng = np.random.default_rng(0)
    for c in ("cat", "dog", "eel", "fox"):
        (root / c).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(root / c / f"{i:02d}.png")
    return root


def random_inputs(model, n=32, seed=1):
    from ov_sparsity.data import ArrayDataset

    shape = [d.get_length() for d in list(model.input(0).get_partial_shape())[1:]]
    rng = np.random.default_rng(seed)
    return ArrayDataset([np.abs(rng.standard_normal(shape)).astype(np.float32) for _ in range(n)])


TINY_WORDS = ("the a an of and to in is was it for on with as by at from this that be are not but or "
              "man woman dog cat car news film good bad great poor money bank market river music song "
              "play plays playing guitar piano fast slow happy sad movie story love hate war peace city "
              "country king queen old new big small").split()


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory):
    """A randomly initialised 2-layer BERT with a small word-piece tokenizer, saved as a Hugging Face
    folder (config.json, model.safetensors, vocab.txt, tokenizer_config.json): no downloads."""
    torch = pytest.importorskip("torch")
    from transformers import BertConfig, BertModel, BertTokenizerFast

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny_bert")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *TINY_WORDS,
             *"abcdefghijklmnopqrstuvwxyz0123456789.,'!?-", *(f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz")]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    BertTokenizerFast(vocab=str(folder / "vocab.txt"), model_max_length=64).save_pretrained(str(folder))
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64)
    BertModel(config, add_pooling_layer=False).save_pretrained(str(folder))
    return folder
