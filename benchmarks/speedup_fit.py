"""How well the channel rebuild fits, at the widths a `--speedup` run chose (fixed), on calibration images
it did not see (issue 22's overfitting finding; docs/results.md):

    python benchmarks/speedup_fit.py DENSE.xml OUT/report.json CALIB_DIR seen OUT/model.xml
    python benchmarks/speedup_fit.py DENSE.xml OUT/report.json CALIB_DIR variants \
        '[{"n": 256}, {"n": 700, "damp": 0.1}]'

`seen`: the model's agreement with dense on the first 256 images of the run's seeded permutation (the
rebuild's), on the next 64 (the sensitivity's) and on the rest. `variants`: the rebuild done again on the
first n images (refit on or off, its damping), judged by KL and agreement on images 700 and after.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ov_sparsity.algorithms.structured.algorithm import GroupPlan, apply_widths, consumer_moments  # noqa: E402
from ov_sparsity.algorithms.structured.sensitivity import output_loss  # noqa: E402
from ov_sparsity.algorithms.udfc.refit import sequential_refit  # noqa: E402
from ov_sparsity.api import resolve_preprocessing  # noqa: E402
from ov_sparsity.data.datasets import ImageFolder, as_array  # noqa: E402
from ov_sparsity.engine.infer import first_output  # noqa: E402
from ov_sparsity.graph import read_model  # noqa: E402
from ov_sparsity.graph.channels import find_channel_groups  # noqa: E402


def rebuilt(dense, widths: dict, values, refit_values=None, damping: float = 0.01):
    """`dense` at `widths` as ChannelPruning builds it: channels by the structured cost and consumers rebuilt
    by least squares on `values`, then (with `refit_values`) the sequential refit on those."""
    model = dense.clone()
    groups = [g for g in find_channel_groups(model) if g.name in widths]
    moments = consumer_moments(dense, groups, values, False)
    plans = {g.name: GroupPlan(g, moments, g.channels - max(1, int(np.ceil(0.25 * g.channels)))) for g in groups}
    kept = apply_widths(model, plans, widths, moments)
    if refit_values is not None:
        sequential_refit(model, dense.clone(), refit_values, kept, None, damping, progress=False)
    return model


def main() -> None:
    dense_xml, report, calib, mode, arg = sys.argv[1:6]
    dense = read_model(dense_xml)
    data = ImageFolder(calib, resolve_preprocessing(None, dense))
    order = np.random.default_rng(0).permutation(len(data))
    if mode == "seen":
        x = as_array(data)
        agree = first_output(dense, x).argmax(1) == first_output(read_model(arg), x).argmax(1)
        print({"rebuild (first 256)": float(agree[order[:256]].mean()),
               "sensitivity (next 64)": float(agree[order[256:320]].mean()), "rest": float(agree[order[320:]].mean())})
        return
    widths = {n: v["kept"] for n, v in json.loads(Path(report).read_text())["algorithm_reports"]["ChannelPruning"]
              ["layers"].items()}
    held = as_array(data, np.sort(order[700:]))
    reference = first_output(dense, held)
    for spec in json.loads(arg):
        t0 = time.time()
        values = as_array(data, order[:spec["n"]])
        model = rebuilt(dense, widths, values, values if spec.get("refit", True) else None, spec.get("damp", 0.01))
        out = first_output(model, held)
        print(json.dumps({**spec, "kl": round(output_loss(out, reference, True), 4),
                          "agreement": round(100 * float((out.argmax(1) == reference.argmax(1)).mean()), 2),
                          "seconds": round(time.time() - t0)}), flush=True)


if __name__ == "__main__":
    main()
