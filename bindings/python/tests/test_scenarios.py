"""The scenario suite (issue #15, tests/scenarios/) run through the Python
binding by ``parity.py`` against the scripted server: every expected outcome
holds, and changing one expected outcome fails the run."""

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

import parity
from support import FIGURES, run

ROOT = Path(__file__).resolve().parents[3]
SCENARIOS = sorted((ROOT / "tests" / "scenarios").glob("*.json"))


@pytest.fixture(scope="module")
def server():
    process = subprocess.Popen([sys.executable, str(ROOT / "tests" / "scenarios" / "script_server.py")],
                               stdout=subprocess.PIPE, text=True)
    ready = process.stdout.readline().split()
    assert ready[:1] == ["READY"], ready
    yield f"http://127.0.0.1:{ready[1]}"
    process.kill()
    process.wait()


def run_steps(tmp_path, server, lines):
    steps, transcript = tmp_path / "steps.tsv", tmp_path / "transcript.txt"
    steps.write_text("\n".join(lines) + "\n", encoding="utf-8")
    scenarios, mismatches = run(parity.run_all(str(steps), server, str(transcript)), timeout=300)
    return scenarios, mismatches, transcript.read_bytes()


def test_every_scenario_gives_its_expected_outcomes(tmp_path, server):
    lines = parity.flatten(SCENARIOS)
    scenarios, mismatches, transcript = run_steps(tmp_path, server, lines)
    FIGURES["scenarios (python)"] = (f"{scenarios} scenarios, {len(lines)} steps, {mismatches} mismatches, "
                                     f"transcript sha256 {hashlib.sha256(transcript).hexdigest()[:12]}")
    assert scenarios >= 40
    assert mismatches == 0


def test_changing_one_expected_outcome_fails(tmp_path, server):
    lines = parity.flatten(SCENARIOS)
    name, stores, op, args, expect = lines[0].split("\t")
    lines[0] = "\t".join((name, stores, op, args, expect + "-changed"))
    _, mismatches, _ = run_steps(tmp_path, server, lines)
    assert mismatches == 1
