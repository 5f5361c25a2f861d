"""What one MLflow run costs: the local store's first run (it creates the SQLite schema), a run of
figures only, one with an adapter-sized folder, and one with the program (`mlflow.dspy`). The
baseline, measured in the same process: copying the same folder with shutil (what logging a
local artifact must at least do). Medians of `--repeat` runs; a busy machine makes them noisy."""

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from reer_pipeline.program.modules import DraftProgram
from reer_pipeline.tracking import Record, Tracker, TrackingSettings


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--folder-mb", type=float, default=8.0, help="adapter-sized artifacts")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        folder = tmp / "adapter"
        folder.mkdir()
        (folder / "adapter_model.safetensors").write_bytes(b"\1" * int(args.folder_mb * 2**20))
        program = tmp / "program.json"
        DraftProgram().save(str(program))
        series = {"train_loss": [(i, 1.0 / (i + 1)) for i in range(200)]}
        figures = {f"m{i}": float(i) for i in range(40)}
        cases = {
            "first run (creates the store)": lambda i: Record("f", metrics=figures),
            "figures and a 200-step series": lambda i: Record("f", metrics=figures, series=series),
            f"plus a {args.folder_mb:g} MB folder": lambda i: Record("a", artifacts=[folder]),
            "plus the program (mlflow.dspy)": lambda i: Record("p", program=program),
        }
        times = {name: [] for name in cases}
        copies = []
        for i in range(args.repeat):
            root = tmp / f"root{i}"
            tracker = Tracker(TrackingSettings(), root, warn=print)
            for name, make in cases.items():
                times[name].append(timed(lambda make=make, i=i, t=tracker: t.log(make, i)))
            copies.append(timed(lambda i=i: shutil.copytree(folder, tmp / f"copy{i}")))
    base = statistics.median(copies)
    print(f"baseline: copying the {args.folder_mb:g} MB folder, median {base * 1000:.1f} ms")
    result = {}
    for name, values in times.items():
        median = statistics.median(values)
        result[name] = median
        print(f"{name:36} median {median * 1000:8.1f} ms  = {median / base:7.1f} x the copy")
    return result


if __name__ == "__main__":
    main()
