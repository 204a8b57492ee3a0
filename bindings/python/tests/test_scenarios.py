"""The scenario suite (issue #15, tests/scenarios/) run through the Python
binding by ``parity.py`` against the scripted server: every expected outcome
holds, and changing one expected outcome fails the run. Under ``cargo xtask
test`` the steps file and the server are the ones every language's runner
uses, and the transcript goes to ``$AUTHSTATE_TRANSCRIPT_DIR/python.txt`` for
the parity layer."""

import hashlib
import os
import shutil
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
    if os.environ.get("AUTHSTATE_SCENARIO_SERVER"):
        yield os.environ["AUTHSTATE_SCENARIO_SERVER"]
        return
    process = subprocess.Popen([sys.executable, str(ROOT / "tests" / "scenarios" / "script_server.py")],
                               stdout=subprocess.PIPE, text=True)
    ready = process.stdout.readline().split()
    assert ready[:1] == ["READY"], ready
    yield f"http://127.0.0.1:{ready[1]}"
    process.kill()
    process.wait()


def run_steps(tmp_path, server, lines):
    steps, transcript = tmp_path / "steps.tsv", tmp_path / "transcript.txt"
    steps.write_text("\n".join(line for line in lines if line) + "\n", encoding="utf-8")
    scenarios, mismatches = run(parity.run_all(str(steps), server, str(transcript)), timeout=300)
    return scenarios, mismatches, transcript.read_bytes()


def test_every_scenario_gives_its_expected_outcomes(tmp_path, server):
    given = os.environ.get("AUTHSTATE_SCENARIO_STEPS")
    lines = Path(given).read_text(encoding="utf-8").splitlines() if given else parity.flatten(SCENARIOS)
    scenarios, mismatches, transcript = run_steps(tmp_path, server, lines)
    if os.environ.get("AUTHSTATE_TRANSCRIPT_DIR"):
        shutil.copyfile(tmp_path / "transcript.txt", Path(os.environ["AUTHSTATE_TRANSCRIPT_DIR"]) / "python.txt")
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
