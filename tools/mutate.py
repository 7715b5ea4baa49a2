"""Mutation testing of coach's core (make mutate, make mutate-sample; docs/testing.md).

Each core module is mutated by mutmut (its settings: `[tool.mutmut]` in pyproject.toml) in a
scratch copy of the checkout, against the tests that pin it (`MODULES` below), one module at
a time. The scores per module and every survivor go to build/mutation/report.json and
report.md; each score is compared with tools/mutation_baseline.json, and the run fails when
a module's score fell by more than `TOLERANCE` points.

    python tools/mutate.py                       # every module, every mutant
    python tools/mutate.py --sample 25 --seed 34 # 25 mutants per module, drawn with a fixed seed
    python tools/mutate.py --module wod/choose.py
    python tools/mutate.py --write-baseline      # take this run's scores as the baseline

A sampled run's score is an estimate (25 mutants: about +-6 points at 90 %), so its baseline
comparison allows `SAMPLE_TOLERANCE` points instead.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script or loaded by path
from mutate_equivalent import EQUIVALENT

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "build" / "mutation"
BASELINE = REPO / "tools" / "mutation_baseline.json"
TOLERANCE = 0.5
SAMPLE_TOLERANCE = 10.0

MODULES: dict[str, list[str]] = {
    "wod/choose.py": ["tests/unit/test_choose.py", "tests/unit/test_choose_uniform.py"],
    "wod/day.py": ["tests/unit/test_day.py", "tests/unit/test_yesterday_cache.py"],
    "wod/history.py": [
        "tests/unit/test_history.py",
        "tests/unit/test_day.py",
        "tests/integration/test_reads_performances.py",
    ],
    "wod/suggestion.py": [
        "tests/unit/test_suggest.py",
        "tests/integration/test_reads_performances.py",
    ],
    "events/codec.py": [
        "tests/unit/test_events.py",
        "tests/unit/test_binary_mode.py",
        "tests/unit/test_codec_edges.py",
    ],
    "store/writes.py": [
        "tests/integration/test_store_writes.py",
        "tests/integration/test_store_writes_deletes.py",
        "tests/integration/test_projection.py",
        "tests/integration/test_erasure.py",
        "tests/unit/test_lag.py",
        "tests/unit/test_readiness.py",
    ],
    "store/erasure.py": [
        "tests/integration/test_erasure_store.py",
        "tests/integration/test_erasure_store_edges.py",
        "tests/integration/test_erasure.py",
        "tests/integration/test_erasure_properties.py",
    ],
    "api/auth.py": [
        "tests/unit/test_auth.py",
        "tests/unit/test_auth_keys.py",
        "tests/integration/test_api_auth_attacks.py",
    ],
    "api/query.py": ["tests/unit/test_query.py", "tests/integration/test_api_inputs.py"],
    "consumer/commit.py": [
        "tests/integration/test_commit.py",
        "tests/integration/test_projection.py",
        "tests/integration/test_fault_classes.py",
    ],
    "consumer/handlers.py": [
        "tests/unit/test_handlers.py",
        "tests/integration/test_projection.py",
        "tests/unit/test_events.py",
        "tests/integration/test_erasure.py",
    ],
}
"""Each core module and the tests that pin it (a mutant these miss is a survivor, even if
an end-to-end test would catch it: the fast tests are the ones that run on every change)."""


def mutant_names(module: str) -> list[str]:
    """Every mutant mutmut makes of `module`, by its full name."""
    from mutmut.mutation.file_mutation import mutate_file_contents

    dotted = module.removesuffix(".py").replace("/", ".")
    code = (REPO / module).read_text()
    return [f"{dotted}.{name}" for name in mutate_file_contents(module, code).mutant_names]


def scratch_copy(module: str, tests: list[str]) -> Path:
    """The checkout's packages and tests in a temporary directory, with a pyproject.toml whose
    `[tool.mutmut]` mutates `module` only, against `tests`."""
    base = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["mutmut"]
    where = Path(tempfile.mkdtemp(prefix="coach-mutate-"))
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.db*")
    for name in [*base["source_paths"], *base.get("also_copy", []), "tests"]:
        shutil.copytree(REPO / name, where / name, ignore=ignore)
    text = (REPO / "pyproject.toml").read_text()
    text = text[: text.index("\n[tool.mutmut]\n")]  # the last table: written below
    settings = {
        **base,
        "only_mutate": [module],
        "pytest_add_cli_args_test_selection": tests,
    }
    lines = ["[tool.mutmut]"] + [f"{k} = {json.dumps(v)}" for k, v in settings.items()]
    (where / "pyproject.toml").write_text(text + "\n".join(lines) + "\n")
    return where


def run_module(module: str, sample: int | None, seed: int, children: int) -> dict[str, object]:
    """Mutate one module; its counts by status and its survivors."""
    names = mutant_names(module)
    chosen = (
        sorted(random.Random(f"{seed}:{module}").sample(names, min(sample, len(names))))
        if sample
        else []
    )
    where = scratch_copy(module, MODULES[module])
    started = time.monotonic()
    try:
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        command = [sys.executable, "-m", "mutmut", "run", "--max-children", str(children), *chosen]
        subprocess.run(command, cwd=where, env=env, check=False, stdout=subprocess.DEVNULL)
        if not (where / "mutants" / f"{module}.meta").exists():
            raise SystemExit(f"mutmut made no results for {module} (its errors are above)")
        return {
            **statuses(where, module, set(chosen) or set(names)),
            "seconds": round(time.monotonic() - started),
        }
    finally:
        shutil.rmtree(where, ignore_errors=True)


def statuses(where: Path, module: str, wanted: set[str]) -> dict[str, object]:
    from mutmut.stats import status_by_exit_code

    meta = json.loads((where / "mutants" / f"{module}.meta").read_text())
    counts: dict[str, int] = {}
    survivors = []
    for name, code in sorted(meta["exit_code_by_key"].items()):
        if name not in wanted:
            continue
        status = "equivalent" if name in EQUIVALENT else status_by_exit_code[code]
        counts[status] = counts.get(status, 0) + 1
        if status in ("survived", "no tests"):
            survivors.append(name)
    tried = sum(n for status, n in counts.items() if status != "equivalent")
    killed = (
        counts.get("killed", 0) + counts.get("timeout", 0) + counts.get("caught by type check", 0)
    )
    return {
        "mutants": tried,
        "killed": killed,
        "score": round(100 * killed / tried, 1) if tried else None,
        "counts": counts,
        "survivors": survivors,
    }


def report(
    results: dict[str, dict[str, object]], baseline: dict[str, float], tolerance: float
) -> list[str]:
    """Write the report files; the modules whose score fell."""
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "report.json").write_text(json.dumps(results, indent=2) + "\n")
    fell = []
    lines = ["| module | mutants | killed | score | baseline |", "|---|---|---|---|---|"]
    for module, r in results.items():
        was = baseline.get(module)
        score = r["score"]
        shown = "none" if was is None else f"{was} %"
        lines.append(f"| {module} | {r['mutants']} | {r['killed']} | {score} % | {shown} |")
        if was is not None and isinstance(score, float) and score < was - tolerance:
            fell.append(f"{module}: {score} % < baseline {was} %")
    for module, r in results.items():
        lines += ["", f"## Survivors of {module}", ""] + [f"- `{s}`" for s in r["survivors"]]  # type: ignore[attr-defined]
    lines += ["", "## Equivalent mutants (not counted)", ""]
    lines += [f"- `{name}`: {why}" for name, why in EQUIVALENT.items()]
    (OUT / "report.md").write_text("\n".join(lines) + "\n")
    return fell


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--module", action="append", choices=sorted(MODULES))
    parser.add_argument("--sample", type=int, help="mutants per module, drawn with --seed")
    parser.add_argument("--seed", type=int, default=34)
    parser.add_argument("--children", type=int, default=1, help="mutmut's --max-children")
    parser.add_argument("--write-baseline", action="store_true")
    args = parser.parse_args()
    results = {}
    for module in args.module or MODULES:
        results[module] = run_module(module, args.sample, args.seed, args.children)
        r = results[module]
        print(f"{module}: {r['score']} % of {r['mutants']} ({r['seconds']} s)", flush=True)
    baseline = json.loads(BASELINE.read_text()) if BASELINE.exists() else {}
    if args.write_baseline:
        baseline.update({m: r["score"] for m, r in results.items()})
        BASELINE.write_text(json.dumps(dict(sorted(baseline.items())), indent=2) + "\n")
    fell = report(results, baseline, SAMPLE_TOLERANCE if args.sample else TOLERANCE)
    print(f"report: {OUT / 'report.md'}")
    for line in fell:
        print(f"score fell: {line}", file=sys.stderr)
    return 1 if fell else 0


if __name__ == "__main__":
    sys.exit(main())
