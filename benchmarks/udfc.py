"""Issue-5 and issue-14 tables: UDFC data-free channel pruning and low-bit weights on
ResNet-56 (CIFAR-10 test) and MobileNetV2 (all 500 ImageNet samples), with and without
the closed-form reconstruction and the sequential refit; CPU latency at batch 1 and 32
(median of interleaved runs, against the dense model at the same precision), MACs and
parameters before and after. Every model is made by the CLI, with no real data:

    ov-sparsity compress DENSE.xml -o OUT --udfc --prune-ratio R [--weight-bits B] [--no-reconstruct]
        [--no-refit] [--int8]

    python benchmarks/udfc.py [--work runs/udfc] [--part resnet|mobilenet|issue14|all]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import MODELS, cli, command_line, evaluate, export  # noqa: E402



def dense_int8(model: str, dense: Path, work: Path) -> Path:
    """The dense model in INT8, quantized on the same fractal images (the latency reference of INT8 rows)."""
    out = work / "out" / f"{model}_dense_int8"
    if not (out / "model.xml").exists():
        cli("compress", dense, "-o", out, "--int8", "--data", "fractal")
    return out / "model.xml"


def plan(part: str) -> list:
    rows = []
    if part == "issue14":  # (model, ratio, bits, reconstruct, extra flags); refit is the default now
        for refit in ([], ["--no-refit"]):
            rows.append(("resnet56_cifar10", 0.3, 6, True, refit))
            rows.append(("mobilenet_v2", 0.2, 8, True, ["--channel-scope", "expansion"] + refit))
        return rows
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
    ap.add_argument("--part", default="all", choices=("resnet", "mobilenet", "issue14", "all"))
    ap.add_argument("--latency-seconds", type=float, default=10.0, help="0: skip the latency measurement")
    args = ap.parse_args()
    work = Path(args.work)
    path = work / "results.json"
    rows = json.loads(path.read_text()) if path.exists() else []
    done = {(r["model"], r["prune_ratio"], r["weight_bits"], r["reconstruct"], tuple(r.get("extra", ()))) for r in rows}
    dense_info: dict = {}
    for model, ratio, bits, rec, extra in plan(args.part):
        if (model, ratio, bits, rec, tuple(extra)) in done or (args.part != "issue14" and
                                                                (model, ratio, bits, rec, ()) in done):
            continue
        dense = export(model, work)
        test = MODELS[model]["test"]
        if model not in dense_info:
            dense_info[model] = {"top1": evaluate(dense, test)["top1"], **complexity(read_model(dense))}
        out = work / "out" / (f"{model}_p{int(ratio * 100)}_b{bits or 32}_{'rec' if rec else 'plain'}"
                              f"{'_norefit' if '--no-refit' in extra else ''}")
        flags = ["--udfc", "--prune-ratio", ratio] + (["--weight-bits", bits] if bits else []) + \
            ([] if rec else ["--no-reconstruct"]) + extra
        cmd = ["compress", dense, "-o", out, *flags]
        _, wall = cli(*cmd)
        acc = evaluate(out / "model.xml", test, dense)
        row = {"model": model, "prune_ratio": ratio, "weight_bits": bits, "reconstruct": rec, "extra": extra,
               "refit": "--no-refit" not in extra, "wall_s": round(wall, 1),
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
                reference = dense_int8(row["model"], Path(row["dense_xml"]), work) if row["weight_bits"] == 8 \
                    else Path(row["dense_xml"])  # the same precision on both sides
                pair = [read_model(reference), read_model(row["out_xml"])]
                lat = interleaved_latency(pair, seconds=args.latency_seconds)
                lat32 = interleaved_latency(pair, seconds=args.latency_seconds, batch=32, rounds=4)
                thr = interleaved_throughput(pair, seconds=args.latency_seconds)
                row["latency_reference"] = str(reference)
                row["latency_ms"] = {"dense": lat[0]["median_ms"], "compressed": lat[1]["median_ms"]}
                row["latency32_ms"] = {"dense": lat32[0]["median_ms"], "compressed": lat32[1]["median_ms"]}
                row["fps"] = {"dense": thr[0]["fps"], "compressed": thr[1]["fps"]}
                path.write_text(json.dumps(rows, indent=1))
                print(row["model"], row["prune_ratio"], row["latency_ms"], flush=True)
    print("\n| model | pruned | weights | reconstruction | refit | dense top-1 | top-1 | drop | agreement | params | "
          "MACs | MAC ratio | batch-1 ms dense -> pruned | speed-up | batch-32 ms dense -> pruned | speed-up | "
          "images/s dense -> pruned |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        mac_ratio = r["compressed"]["macs"] / r["dense"]["macs"]
        lat = r.get("latency_ms")
        lat32 = r.get("latency32_ms")
        fps = r.get("fps")

        def pair(d, fmt=".3f"):
            return (f"{d['dense']:{fmt}} -> {d['compressed']:{fmt}}", f"{d['dense'] / d['compressed']:.2f}x") if d \
                else ("", "")

        fps_s = f"{fps['dense']:.0f} -> {fps['compressed']:.0f}" if fps else ""
        print(f"| {r['model']} | {r['prune_ratio']:.0%} | {r['weight_bits'] or 32}-bit | "
              f"{'yes' if r['reconstruct'] else 'no'} | {'yes' if r.get('refit') else 'no'} | {r['dense_top1']:.2f} | "
              f"{r['top1']:.2f} | {r['dense_top1'] - r['top1']:.2f} | {r['agreement']:.1f} | "
              f"{r['compressed']['params']:,} | {r['compressed']['macs']:,} | {mac_ratio:.3f} | "
              f"{' | '.join(pair(lat))} | {' | '.join(pair(lat32))} | {fps_s} |")


if __name__ == "__main__":
    main()
