"""Recovery after channel removal, at the widths a `--speedup` run chose (fixed), judged on calibration
images no step saw (issue 22): which data the distillation should train on.

    python benchmarks/speedup_recovery.py DENSE.xml OUT/report.json CALIB_DIR '[{"data": "none"},
        {"data": "real"}, {"data": "real+fractals", "fractals": 2000}, {"data": "fractals"}]' [--test TEST_DIR]

Each variant: the structured cost, least-squares rebuild on the first 256 images of the seeded permutation,
the sequential refit on the first 512 (as `ChannelPruning`), then `Recovery` with CHANNEL_AUTO's settings
(any other Recovery parameter in the variant overrides them; min_gain 0: the weights are always kept, the
judging is done here) on the first 700 real images, `fractals` generated fractals, or both. Judged by KL
and agreement with dense on images 700 and after (300 of cifar10/calib); `--test` adds top-1 there.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.speedup_fit import rebuilt  # noqa: E402
from ov_sparsity.algorithms.base import Context  # noqa: E402
from ov_sparsity.algorithms.recovery.algorithm import Recovery  # noqa: E402
from ov_sparsity.algorithms.recovery.setting import CHANNEL_AUTO  # noqa: E402
from ov_sparsity.algorithms.structured.sensitivity import output_loss  # noqa: E402
from ov_sparsity.api import labelled_images, resolve_preprocessing  # noqa: E402
from ov_sparsity.data.datasets import ArrayDataset, ImageFolder, as_array  # noqa: E402
from ov_sparsity.data.fractals import FractalDataset  # noqa: E402
from ov_sparsity.engine.evaluate import evaluate  # noqa: E402
from ov_sparsity.engine.infer import first_output  # noqa: E402
from ov_sparsity.graph import read_model  # noqa: E402


def main() -> None:
    dense_xml, report, calib, specs = sys.argv[1:5]
    test = sys.argv[sys.argv.index("--test") + 1] if "--test" in sys.argv else None
    dense = read_model(dense_xml)
    prep = resolve_preprocessing(None, dense)
    data = ImageFolder(calib, prep)
    order = np.random.default_rng(0).permutation(len(data))
    widths = {n: v["kept"] for n, v in json.loads(Path(report).read_text())["algorithm_reports"]["ChannelPruning"]
              ["layers"].items()}
    held = as_array(data, np.sort(order[700:]))
    reference = first_output(dense, held)
    start = rebuilt(dense, widths, as_array(data, order[:256]), as_array(data, order[:512]))
    real = as_array(data, order[:700])
    for spec in json.loads(specs):
        t0 = time.time()
        model, info = start.clone(), {}
        if spec["data"] != "none":
            parts = []
            if "real" in spec["data"]:
                parts.append(real)
            if "fractals" in spec["data"]:
                parts.append(as_array(FractalDataset(spec.get("fractals", 2000), prep, seed=0, progress=False)))
            train = ArrayDataset(list(np.concatenate(parts)))
            params = {**CHANNEL_AUTO, "min_gain": 0.0,
                      **{k: v for k, v in spec.items() if k not in ("data", "fractals")}}
            rec = Recovery(**params)
            ctx = Context(dense_model=dense, dataset=train, seed=0, progress=False, preprocessing=prep)
            model = rec.apply(model, ctx)
            r = ctx.reports[rec.name]
            info = {"held_out": [r["held_out_loss_start"], r["held_out_loss_end"]], "steps": r["steps"]}
        out = first_output(model, held)
        row = {**spec, **info, "kl": round(output_loss(out, reference, True), 4),
               "agreement": round(100 * float((out.argmax(1) == reference.argmax(1)).mean()), 2)}
        if test:
            row["top1_test"] = round(evaluate(model, labelled_images(test, None, dense), progress=False)["top1"], 2)
        row["seconds"] = round(time.time() - t0)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
