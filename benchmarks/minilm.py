"""Issue 13: all-MiniLM-L6-v2 sparse INT8, STS quality against the dense FP32 encoder.

    python benchmarks/minilm.py [--work runs/minilm] [--rows dense_int8 real_50 real_70 zipf_50 noise_50]

Each row: `ov-sparsity compress minilm_l6.xml -o OUT [--sparsity S] --data DATA --int8`, then
`ov-sparsity eval OUT/model.xml --task sts --reference minilm_l6.xml --json`. Real calibration text:
gensim's lee_background.cor (300 news documents; never the evaluation files); data-free: 'zipf'
(synthetic sentences) and 'noise' (uniformly random tokens). Evaluation: gensim's Lee, WordSim-353,
SimLex-999 and polarity test data.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import cli, command_line  # noqa: E402

from ov_sparsity.data.text import gensim_test_data  # noqa: E402

ROWS = {
    "dense_int8": (None, "real"),
    "real_50": (0.5, "real"),
    "real_70": (0.7, "real"),
    "zipf_50": (0.5, "zipf"),
    "noise_50": (0.5, "noise"),
}
METRICS = ("lee_spearman", "wordsim353_spearman", "simlex999_spearman", "polarity_probe_accuracy")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", type=Path, default=Path("runs/minilm"))
    ap.add_argument("--rows", nargs="+", default=list(ROWS))
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    dense = args.work / "minilm_l6.xml"
    if not dense.exists():
        cli("zoo", "export", "minilm_l6", "-o", dense)
    real = gensim_test_data("lee_background.cor")
    print("| model | calibration | compress s | " + " | ".join(METRICS) + " | cosine to dense (sentences) |"
          " cosine (words) |")
    print("|---|---|---|" + "---|" * (len(METRICS) + 2))
    base = json.loads(cli("eval", dense, "--task", "sts", "--json")[0].strip().splitlines()[-1])
    print("| dense FP32 | — | — | " + " | ".join(f"{base[m]:.4f}" for m in METRICS) + " | 1 | 1 |", flush=True)
    for row in args.rows:
        level, data = ROWS[row]
        out = args.work / row
        cmd = ["compress", dense, "-o", out, "--data", real if data == "real" else data, "--int8"]
        if level is not None:
            cmd += ["--sparsity", level]
        else:  # INT8 only: the config of DefaultQuantization alone
            cfg = args.work / "int8_only.json"
            cfg.write_text(json.dumps({"compression": {"algorithms": [{"name": "DefaultQuantization"}]}}))
            cmd += ["-c", cfg]
        timing = args.work / f"{row}.time.json"
        if not timing.exists():
            t0 = time.perf_counter()
            cli(*cmd)
            timing.write_text(json.dumps({"wall": time.perf_counter() - t0}))
        wall = json.loads(timing.read_text())["wall"]
        r = json.loads(cli("eval", out / "model.xml", "--task", "sts", "--reference", dense, "--json")[0]
                       .strip().splitlines()[-1])
        label = "dense INT8" if level is None else f"{level:.0%} sparse INT8"
        print(f"| {label} | {data} | {wall:.0f} | " + " | ".join(f"{r[m]:.4f} ({r[m] - base[m]:+.4f})" for m in METRICS)
              + f" | {r['cosine_to_reference']:.4f} | {r['cosine_to_reference_words']:.4f} |", flush=True)
        print(f"<!-- {command_line(*cmd)} -->", flush=True)


if __name__ == "__main__":
    main()
