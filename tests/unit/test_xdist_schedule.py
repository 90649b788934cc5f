"""How `make test` splits the suite over its pytest-xdist workers."""

from __future__ import annotations

from pathlib import Path

from tests.fixtures.xdist_schedule import SAMPLE_RUN_UNIT, unit_of

ROOT = Path(__file__).resolve().parents[2]


def test_the_modules_of_the_shared_sample_run_are_one_unit() -> None:
    modules = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "tests/e2e").glob("test_*.py"))
    units = {m: unit_of(f"{m}::test_x") for m in modules}
    shared = [m for m, unit in units.items() if unit == SAMPLE_RUN_UNIT]
    # tests/e2e/conftest.py's sample run is read by these; the provider-failure test runs
    # the pipeline itself, so it is a unit of its own and can go to the other worker
    assert "tests/e2e/test_sample_run.py" in shared and "tests/e2e/test_instructions.py" in shared
    assert len(shared) == len(modules) - 1
    assert units["tests/e2e/test_provider_failure_heals.py"] == (
        "tests/e2e/test_provider_failure_heals.py"
    )


def test_any_other_module_is_one_unit_whatever_its_parameters() -> None:
    a = unit_of("tests/unit/test_redact.py::test_a[x::y@z]")
    b = unit_of("tests/unit/test_redact.py::test_b")
    assert a == b == "tests/unit/test_redact.py"
    assert unit_of("tests/unit/test_notify.py::test_a") != a
