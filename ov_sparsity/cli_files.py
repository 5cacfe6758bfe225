"""`ov-sparsity` commands that render, export or generate files: report, zoo, fractals, demo.
Errors are OvSparsityError (cli.main prints them as one line, exit 2)."""

from __future__ import annotations

import os
from pathlib import Path

from ov_sparsity.errors import OvSparsityError
from ov_sparsity.userfiles import load_json


REPORT_KEYS = {"report.json": ("model", "global_sparsity", "weights", "layers", "algorithms", "size", "data",
                               "timings_s"),
               "results.json": ("models", "machine")}


def cmd_report(args) -> int:
    from ov_sparsity.benchmark.html import benchmark_page, run_page

    folder = Path(args.directory)
    if not folder.is_dir():
        raise OvSparsityError(f"not a folder: {folder} (give the -o folder of a compress or benchmark run)")
    name = next((n for n in REPORT_KEYS if (folder / n).is_file()), None)
    if name is None:
        raise OvSparsityError(f"{folder}: no report.json (from compress) or results.json (from benchmark) there")
    data = _read_json(folder / name)
    what = f"{folder / name} is not a {name} written by ov-sparsity"
    if not isinstance(data, dict):
        raise OvSparsityError(f"{what} (it holds a {type(data).__name__}, not an object)")
    missing = [k for k in REPORT_KEYS[name] if k not in data]
    if missing:
        raise OvSparsityError(f"{what} (no '{missing[0]}')")
    try:
        page = run_page(data) if name == "report.json" else benchmark_page(data)
    except (KeyError, TypeError, AttributeError, ValueError, IndexError, ZeroDivisionError) as exc:
        raise OvSparsityError(f"{what} ({type(exc).__name__}: {exc})") from None
    target = folder / "report.html"
    tmp = folder / ".report.html.tmp"
    try:
        tmp.write_text(page)
        tmp.replace(target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OvSparsityError(f"cannot write {target}: {exc.strerror}") from None
    print(target)
    return 0


def read_widths(path: Path) -> dict:
    """--widths FILE: {group: channels kept} from an earlier compress's report.json (its ChannelPruning
    layers) or from a JSON object of that shape (the counts are checked against the model later)."""
    if not path.exists():
        raise OvSparsityError(f"--widths: no such file: {path}")
    data = load_json(path, "--widths")
    if isinstance(data, dict) and "algorithm_reports" in data:
        reports = data["algorithm_reports"]
        channels = reports.get("ChannelPruning") if isinstance(reports, dict) else None
        layers = channels.get("layers") if isinstance(channels, dict) else None
        if not isinstance(layers, dict):
            raise OvSparsityError(f"--widths: {path} is a report.json without ChannelPruning widths (it comes "
                                  "from a run that removed no channels by --speedup or ChannelPruning)")
        data = {name: layer.get("kept") if isinstance(layer, dict) else None for name, layer in layers.items()}
    from ov_sparsity.algorithms.channel_pruning import are_widths

    if not are_widths(data):
        raise OvSparsityError(f"--widths: {path} holds neither a report.json nor an object of channel group "
                              "names and channel counts (integers >= 0)")
    return data


def _read_json(path: Path) -> dict:
    return load_json(path, "report")


def cmd_zoo(args) -> int:
    from ov_sparsity.zoo import MODELS, export

    if args.zoo_command == "list":
        for m in MODELS.values():
            print(f"{m.name:<20}{m.preprocessing:<10}{m.description}")
        return 0
    path = export(args.name, args.weights, args.output, seq_len=args.seq_len)
    print(path)
    return 0


def cmd_fractals(args) -> int:
    import time

    from ov_sparsity.data.fractals import FractalOptions, generate_images
    from ov_sparsity.outputs import atomic_output_dir, check_output_dir

    out = check_output_dir(args.output, "fractals")  # before minutes of work, and again when moving into place
    sheet = check_sheet_path(args.sheet, out) if args.sheet else None
    options = FractalOptions(sampler=args.sampler, colour="gray" if args.gray else "random")
    t0 = time.perf_counter()
    with atomic_output_dir(out, "fractals") as tmp:  # the workers write the PNGs as they go
        images = generate_images(args.n, args.size, args.seed, options, workers=args.workers, cache=False,
                                 progress=not args.quiet, write_to=tmp)
        elapsed = time.perf_counter() - t0
    if sheet:
        contact_sheet(images[:32], sheet)
    print(f"{args.n} images of {args.size}x{args.size} in {args.output} "
          f"({elapsed:.1f} s, {args.n / elapsed:.1f} images/s)")
    return 0


def check_sheet_path(path: str, out: Path) -> Path:
    from PIL import Image

    from ov_sparsity.outputs import check_output_file

    sheet = check_output_file(path, create_parents=False)
    if out == sheet.parent or out in sheet.parents:
        raise OvSparsityError(f"--sheet {sheet} would land inside the output folder {out}; put it elsewhere")
    Image.init()
    if sheet.suffix.lower() not in Image.EXTENSION:
        raise OvSparsityError(f"--sheet {sheet}: unknown image format '{sheet.suffix}' (use .png or .jpg)")
    return sheet


def contact_sheet(images, path, columns: int = 8, tile: int = 112) -> None:
    import numpy as np
    from PIL import Image

    rows = -(-len(images) // columns)
    sheet = Image.new("RGB", (columns * tile, rows * tile))
    for i, img in enumerate(images):
        sheet.paste(Image.fromarray(np.asarray(img)).resize((tile, tile), Image.BILINEAR),
                    ((i % columns) * tile, (i // columns) * tile))
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{path.suffix}")
    try:
        sheet.save(tmp, optimize=True)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OvSparsityError(f"cannot write the contact sheet {path}: {exc.strerror or exc}") from None


def cmd_demo(args) -> int:
    from ov_sparsity.demo import run_demo

    run_demo(args.output, args.sparsity, progress=not args.quiet)
    return 0
