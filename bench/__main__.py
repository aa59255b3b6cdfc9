"""``python -m bench``: run every benchmark that runs here and write ``bench/results.md``.

``--loaded`` runs only the thread policy under a load it starts and stops (``bench/results-loaded.md``);
``--targets-only`` writes only issue 22's targets section, quickly (stdout, or ``--out``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

from . import common, gpu, hsoftmax, mlp, targets
from .common import machine, peak_rss_mb, table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for torch and NumPy's BLAS (default: what torch chose, all cores)")
    parser.add_argument("--quick", action="store_true", help="small sizes: checks the harness, not the speed")
    parser.add_argument("--out", default=None,
                        help="the report (default: bench/results.md, bench/results-loaded.md with --loaded, "
                             "bench/results-gpu.md with --gpu-only, stdout with --targets-only)")
    parser.add_argument("--note", default="", help="a sentence about the conditions, copied into the report")
    parser.add_argument("--gpu-only", action="store_true",
                        help="run only the GPU part and write bench/results-gpu.md (unless --out says otherwise)")
    parser.add_argument("--loaded", action="store_true",
                        help="run only the thread policy (threads='auto' against 1 thread and every core) under a "
                             "spinning load on every core that the bench starts and stops; writes "
                             "bench/results-loaded.md (unless --out says otherwise)")
    parser.add_argument("--targets-only", action="store_true",
                        help="write only the 'Issue 22 targets' section (under a minute; the step's figures are read "
                             "from bench/results.md) to stdout or --out")
    args = parser.parse_args(argv)
    if args.gpu_only:
        return gpu_only(args)
    if args.loaded:
        return loaded_only(args)
    if args.targets_only:
        text = targets.section()
        if args.out:
            Path(args.out).write_text(text, encoding="utf-8")
        else:
            print(text)
        return 0
    args.out = args.out or str(Path(__file__).with_name("results.md"))

    limiter = None
    if args.threads == 1:
        common.CLOCK["name"] = "cpu"
    if args.threads:
        torch.set_num_threads(args.threads)
        from threadpoolctl import threadpool_limits

        limiter = threadpool_limits(args.threads)
    start = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - start:6.1f}s] {msg}", flush=True)

    n, reps = (6_000, 2) if args.quick else (60_000, 5)
    sizes = [2_000, 6_000] if args.quick else [10_000, 60_000, 600_000]
    scale_reps = {600_000: 2}
    out = ["# trainwell speed benchmark", "",
           "Written by `python -m bench` (see `bench/__init__.py`). All contenders run in one process, taking "
           "turns (one epoch each per round), on the same synthetic MNIST-sized data (random standardised 784-feature rows, "
           "10 random classes: speed does not depend on the values). Times are wall-clock seconds; every "
           f"figure is the median of {reps} timed epochs after one warm-up epoch unless a row says otherwise.",
           ""]
    if args.quick:
        out += ["**Quick mode: small sizes, numbers are not meaningful.**", ""]
    if args.note:
        out += [args.note, ""]
    info = machine()
    out += ["## Machine", "", table(["", ""], [[k, v] for k, v in info.items()]), ""]
    clock = ("process CPU seconds (single-threaded run on a shared machine: CPU time leaves out the waits "
             "for a core; wall-clock is in the first table too)" if common.CLOCK["name"] == "cpu"
             else "wall-clock seconds")
    out += [f"Sections after the first table report {clock}.", ""]

    log(f"MLP 784-256-128-10, batch 128, {n:,} samples, Adam: every contender")
    text, timings = mlp.side_by_side(n, 128, reps, log)
    rss_main = peak_rss_mb()
    out += [f"## MLP 784-256-128-10, batch 128, Adam, {n:,} samples, one epoch", "", text, ""]
    out += _verdict(timings)

    log("where a step's time goes")
    seconds = {k: v.typical for k, v in timings.items()}
    step_figures: dict[str, float] = {}
    out += ["## Where a batch-128 step's time goes", "", mlp.breakdown(n, 128, reps, log, seconds, step_figures), "",
            "Matmuls: the GEMM-only floor per step. Optimizer: the update alone, timed in a loop. "
            "The rest: everything else (batch norm, activations, loss, data gathering, autograd and "
            "Python overhead), by difference.", ""]

    log("batch 1024 against the FLOP floor")
    out += ["## Batch 1024 against the 6·params·N floor", "", mlp.flop_floor(n, 1024, reps, log), ""]

    log("scaling with the number of samples")
    out += ["## Epoch time against the number of samples (trainwell, batch 128)", "",
            mlp.scaling(sizes, 128, scale_reps, log), "",
            f"Peak RSS of this process: {rss_main:,.0f} MiB after the {n:,}-sample table (data "
            f"{n * 784 * 4 / 2**20:,.0f} MiB, resident once); {peak_rss_mb():,.0f} MiB after the scaling runs "
            f"(largest data set {max(sizes) * 784 * 4 / 2**20:,.0f} MiB).", ""]

    log("hierarchical vs full softmax, 20,000 classes")
    classes = 2_000 if args.quick else 20_000
    out += [f"## Hierarchical vs full softmax, {classes:,} classes", "",
            hsoftmax.step_times(classes, 128, 20 if args.quick else 40, 3, log), ""]

    reason = gpu.gpu_reason()
    out += ["## GPU", ""]
    if reason:
        log(f"GPU part skipped: {reason}")
        out += [f"Skipped: {reason}. `python -m bench --gpu-only` on a CUDA machine writes `bench/results-gpu.md`.", ""]
    else:
        log("GPU part")
        out += [gpu.gpu_report(n, reps, log), ""]

    log("issue 22 targets (first fit, --help and predict in fresh processes)")
    out += [targets.section(step_figures), ""]

    out += [f"Total benchmark time: {time.perf_counter() - start:.0f} s.", ""]
    Path(args.out).write_text("\n".join(out), encoding="utf-8")
    log(f"wrote {args.out}")
    if limiter is not None:
        limiter.unregister()
    return 0


def gpu_only(args: argparse.Namespace) -> int:
    """``--gpu-only``: the GPU workloads alone, into ``bench/results-gpu.md``."""
    start = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - start:6.1f}s] {msg}", flush=True)

    reason = gpu.gpu_reason()
    if reason:
        print(f"GPU part skipped: {reason}.")
        return 0
    out_path = Path(args.out or Path(__file__).with_name("results-gpu.md"))
    n, reps = (6_000, 2) if args.quick else (60_000, 5)
    info = machine()
    out = ["# trainwell speed benchmark: GPU", "",
           "Written by `python -m bench --gpu-only`. All contenders run in one process, one after another, "
           "on synthetic data of the real shapes (speed does not depend on the values); times are wall-clock "
           f"seconds with the device synchronised, the median of {reps} timed epochs after the warm-up.", ""]
    if args.note:
        out += [args.note, ""]
    out += ["## Machine", "", table(["", ""], [[k, v] for k, v in info.items()]), "", "## GPU", "",
            gpu.gpu_report(n, reps, log, cnn_images=5_000 if args.quick else 50_000), "",
            f"Total benchmark time: {time.perf_counter() - start:.0f} s.", ""]
    out_path.write_text("\n".join(out), encoding="utf-8")
    log(f"wrote {out_path}")
    return 0


def loaded_only(args: argparse.Namespace) -> int:
    """``--loaded``: the thread policy under a spinning load, into ``bench/results-loaded.md``."""
    from .loaded import loaded_report

    start = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - start:6.1f}s] {msg}", flush=True)

    out_path = Path(args.out or Path(__file__).with_name("results-loaded.md"))
    text = loaded_report(quick=args.quick, note=args.note, log=log)
    out_path.write_text(text, encoding="utf-8")
    log(f"wrote {out_path}")
    return 0


def _verdict(timings: dict) -> list[str]:
    ours, ours_cpu = timings["trainwell"].median, timings["trainwell"].cpu_median
    lines = ["Targets (issue 4), from this table (wall-clock ratio; CPU-time ratio in brackets):", ""]
    checks = [("best plain eager loop", 1.8), ("scikit-learn MLPClassifier", 2.0), ("skorch", 2.4)]
    for name, target in checks:
        if name in timings:
            ratio, cpu = timings[name].median / ours, timings[name].cpu_median / ours_cpu
            lines.append(f"- trainwell vs {name}: {ratio:.2f}x faster ({cpu:.2f}x); target ≥ {target}x: "
                         f"{'met' if ratio >= target else 'missed'}.")
    if "GEMM-only floor" in timings:
        floor = timings["GEMM-only floor"]
        ratio, cpu = ours / floor.median, ours_cpu / floor.cpu_median
        lines.append(f"- trainwell takes {ratio:.2f}x ({cpu:.2f}x) the GEMM-only floor; stretch goal ≤ 1.25x: "
                     f"{'met' if ratio <= 1.25 else 'missed'}.")
        if "best plain eager loop" in timings:
            bound = timings["best plain eager loop"].median / floor.median
            lines.append(f"- Upper bound on any loop's speed-up over the eager loop here: eager / floor = "
                         f"{bound:.2f}x (a step with zero overhead beyond its matrix multiplies).")
    return lines + [""]


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore::UserWarning:sklearn")
    sys.exit(main())
