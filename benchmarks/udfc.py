"""Issue-5 tables: UDFC data-free channel pruning and low-bit weights on ResNet-56
(CIFAR-10 test) and MobileNetV2 (ImageNet samples), with and without the
closed-form reconstruction; batch-1 CPU latency (median of interleaved runs),
MACs and parameters before and after. Every model is made by the CLI:

    ov-sparsity compress DENSE.xml -o OUT --udfc --prune-ratio R [--weight-bits B] [--no-reconstruct]

    python benchmarks/udfc.py [--work runs/udfc] [--part resnet|mobilenet|all]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import MODELS, cli, command_line, evaluate, export  # noqa: E402


def plan(part: str) -> list:
    rows = []
    if part in ("resnet", "all"):
        for r in (0.1, 0.2, 0.3, 0.4, 0.5):
            rows += [("resnet56_cifar10", r, None, rec, []) for rec in (False, True)]
        for bits in (6, 4):
            rows += [("resnet56_cifar10", 0.0, bits, rec, []) for rec in (False, True)]
        rows += [("resnet56_cifar10", 0.3, 6, rec, []) for rec in (False, True)]
    if part in ("mobilenet", "all"):
        for r in (0.1, 0.2, 0.3):
            rows += [("mobilenet_v2", r, 6, rec, ["--channel-scope", "expansion"]) for rec in (False, True)]
    return rows


def main() -> None:
    from ov_sparsity.engine.latency import interleaved_latency, interleaved_throughput
    from ov_sparsity.graph import read_model
    from ov_sparsity.graph.complexity import complexity

    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default="runs/udfc")
    ap.add_argument("--part", default="all", choices=("resnet", "mobilenet", "all"))
    ap.add_argument("--latency-seconds", type=float, default=10.0, help="0: skip the latency measurement")
    args = ap.parse_args()
    work = Path(args.work)
    path = work / "results.json"
    rows = json.loads(path.read_text()) if path.exists() else []
    done = {(r["model"], r["prune_ratio"], r["weight_bits"], r["reconstruct"]) for r in rows}
    dense_info: dict = {}
    for model, ratio, bits, rec, extra in plan(args.part):
        if (model, ratio, bits, rec) in done:
            continue
        dense = export(model, work)
        test = MODELS[model]["test"]
        if model not in dense_info:
            dense_info[model] = {"top1": evaluate(dense, test)["top1"], **complexity(read_model(dense))}
        out = work / "out" / f"{model}_p{int(ratio * 100)}_b{bits or 32}_{'rec' if rec else 'plain'}"
        flags = ["--udfc", "--prune-ratio", ratio] + (["--weight-bits", bits] if bits else []) + \
            ([] if rec else ["--no-reconstruct"]) + extra
        cmd = ["compress", dense, "-o", out, *flags]
        _, wall = cli(*cmd)
        acc = evaluate(out / "model.xml", test, dense)
        row = {"model": model, "prune_ratio": ratio, "weight_bits": bits, "reconstruct": rec, "wall_s": round(wall, 1),
               "dense_top1": dense_info[model]["top1"], "top1": acc["top1"], "agreement": acc["agreement"],
               "dense": {k: dense_info[model][k] for k in ("params", "macs")},
               "compressed": {k: v for k, v in complexity(read_model(out / "model.xml")).items()
                              if k in ("params", "macs")},
               "command": command_line(*cmd)}
        row["dense_xml"], row["out_xml"] = str(dense), str(out / "model.xml")
        rows.append(row)
        path.write_text(json.dumps(rows, indent=1))
        print(json.dumps({k: row[k] for k in ("model", "prune_ratio", "weight_bits", "reconstruct", "top1",
                                             "dense_top1", "wall_s")}),
              flush=True)
    if args.latency_seconds > 0:  # on a quiet machine, after the accuracy runs; once per pruned shape
        for row in rows:
            if row["prune_ratio"] > 0 and row["reconstruct"] and "fps" not in row:
                pair = [read_model(row["dense_xml"]), read_model(row["out_xml"])]
                lat = interleaved_latency(pair, seconds=args.latency_seconds)
                thr = interleaved_throughput(pair, seconds=args.latency_seconds)
                row["latency_ms"] = {"dense": lat[0]["median_ms"], "compressed": lat[1]["median_ms"]}
                row["fps"] = {"dense": thr[0]["fps"], "compressed": thr[1]["fps"]}
                path.write_text(json.dumps(rows, indent=1))
                print(row["model"], row["prune_ratio"], row["latency_ms"], flush=True)
    print("\n| model | pruned | weights | reconstruction | dense top-1 | top-1 | drop | params | MACs | MAC ratio | "
          "latency ms dense -> pruned | latency ratio | images/s dense -> pruned | time ratio |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        mac_ratio = r["compressed"]["macs"] / r["dense"]["macs"]
        lat = r.get("latency_ms")
        lat_s = f"{lat['dense']:.3f} -> {lat['compressed']:.3f}" if lat else ""
        lat_r = f"{lat['compressed'] / lat['dense']:.3f}" if lat else ""
        fps = r.get("fps")
        fps_s = f"{fps['dense']:.0f} -> {fps['compressed']:.0f}" if fps else ""
        fps_r = f"{fps['dense'] / fps['compressed']:.3f}" if fps else ""
        print(f"| {r['model']} | {r['prune_ratio']:.0%} | {r['weight_bits'] or 32}-bit | "
              f"{'yes' if r['reconstruct'] else 'no'} | {r['dense_top1']:.2f} | {r['top1']:.2f} | "
              f"{r['dense_top1'] - r['top1']:.2f} | {r['compressed']['params']:,} | {r['compressed']['macs']:,} | "
              f"{mac_ratio:.3f} | {lat_s} | {lat_r} | {fps_s} | {fps_r} |")


if __name__ == "__main__":
    main()
