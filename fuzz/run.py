"""Run every fuzz harness (or some) for a set time and report what each one did.

    .venv/bin/python fuzz/run.py                       # every target, 60 s each
    .venv/bin/python fuzz/run.py --seconds 600 --jobs 2 xml stream

Each target runs as its own libFuzzer process over its seed corpus (fuzz/corpus/<target>/,
read only) and a working corpus (fuzz/work/<target>/, where new inputs go and from which
the next run resumes). A crash, a timeout or running out of memory stops that target and
its input is kept in fuzz/crashes/ (replay it: ``python fuzz/fuzz_<target>.py FILE``).
Prints, per target: executions, executions per second, coverage (libFuzzer's ``cov``
edges and ``ft`` features), corpus size and crashes. Exits 1 if any target crashed.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

FUZZ_DIR = Path(__file__).resolve().parent
TARGETS = ("xml", "stream", "sasl", "jid", "e2e_open", "signcrypt", "secretkey", "pubkey")
# libFuzzer's status lines: "#1234	NEW    cov: 56 ft: 78 corp: 9/1Kb ... exec/s: 120 rss: 60Mb"
_STATUS = re.compile(r"^#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+) corp: (\d+)/", re.MULTILINE)
_STAT = re.compile(r"^stat::(\w+):\s+(\d+)", re.MULTILINE)
_ARTIFACT = re.compile(r"Test unit written to (\S+)")
_STARTUP_GRACE = 120  # seconds on top of the run time before a target is killed
# With RUST_BACKTRACE=1 in the environment, every error pysequoia raises captures a Rust
# backtrace, which makes rejecting a damaged key or message about 100 times slower.
_ENVIRONMENT = {**os.environ, "RUST_LIB_BACKTRACE": "0"}


@dataclass
class Result:
    """What one target's run did."""

    target: str
    seconds: float
    executions: int = 0
    cov: int = 0
    ft: int = 0
    corpus: int = 0
    crash: str | None = None
    returncode: int = 0

    @property
    def per_second(self) -> float:
        """Executions per second over the whole run."""
        return self.executions / self.seconds if self.seconds else 0.0


def run_target(
    target: str, seconds: int, work_dir: Path, crash_dir: Path, extra: list[str]
) -> Result:
    """Fuzz ``target`` for ``seconds``; its log goes to ``work_dir/<target>.log``."""
    corpus = work_dir / target
    corpus.mkdir(parents=True, exist_ok=True)
    crash_dir.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        str(FUZZ_DIR / f"fuzz_{target}.py"),
        str(corpus),
        str(FUZZ_DIR / "corpus" / target),
        f"-max_total_time={seconds}",
        f"-artifact_prefix={crash_dir}/{target}-",
        "-print_final_stats=1",
        "-timeout=10",
        "-rss_limit_mb=2048",
        *extra,
    ]
    dictionary = FUZZ_DIR / "dict" / f"{target}.dict"
    if dictionary.exists():
        command.append(f"-dict={dictionary}")
    started = time.monotonic()
    log = work_dir / f"{target}.log"
    with log.open("wb") as output:
        try:
            process = subprocess.run(
                command,
                stdout=output,
                stderr=subprocess.STDOUT,
                timeout=seconds + _STARTUP_GRACE,
                check=False,
                env=_ENVIRONMENT,
            )
            returncode = process.returncode
        except subprocess.TimeoutExpired:
            returncode = -1
    result = Result(target, time.monotonic() - started, returncode=returncode)
    _read_log(result, log.read_text(errors="replace"))
    return result


def _read_log(result: Result, text: str) -> None:
    statuses = _STATUS.findall(text)
    if statuses:
        runs, cov, ft, corpus = (int(value) for value in statuses[-1])
        result.executions, result.cov, result.ft, result.corpus = runs, cov, ft, corpus
    stats = dict(_STAT.findall(text))
    if "number_of_executed_units" in stats:
        result.executions = int(stats["number_of_executed_units"])
    artifact = _ARTIFACT.search(text)
    if artifact is not None:
        result.crash = artifact.group(1)
    elif result.returncode != 0:
        result.crash = f"exit status {result.returncode} (see {result.target}.log)"


def report(results: list[Result]) -> str:
    """The results as a table."""
    lines = [
        f"{'target':<10} {'seconds':>7} {'executions':>11} {'exec/s':>8} {'cov':>6} "
        f"{'ft':>6} {'corpus':>6}  crashes"
    ]
    for r in results:
        lines.append(
            f"{r.target:<10} {r.seconds:>7.0f} {r.executions:>11} {r.per_second:>8.0f} "
            f"{r.cov:>6} {r.ft:>6} {r.corpus:>6}  {r.crash or 0}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the targets named on the command line (all by default); 1 if any crashed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*", metavar="TARGET", help=", ".join(TARGETS))
    parser.add_argument("--seconds", type=int, default=60, help="per target (default 60)")
    parser.add_argument("--jobs", type=int, default=1, help="targets run side by side")
    parser.add_argument("--work-dir", type=Path, default=FUZZ_DIR / "work")
    parser.add_argument("--crash-dir", type=Path, default=FUZZ_DIR / "crashes")
    parser.add_argument(
        "--libfuzzer", action="append", default=[], help="extra libFuzzer flag (repeatable)"
    )
    args = parser.parse_args(argv)
    targets = args.targets or list(TARGETS)
    unknown = sorted(set(targets) - set(TARGETS))
    if unknown:
        parser.error(f"unknown target {', '.join(unknown)}; choose from {', '.join(TARGETS)}")
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = list(
            pool.map(
                lambda target: run_target(
                    target, args.seconds, args.work_dir, args.crash_dir, args.libfuzzer
                ),
                targets,
            )
        )
    print(report(results))
    return 1 if any(r.crash for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
