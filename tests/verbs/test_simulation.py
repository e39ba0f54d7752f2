"""Verb ``run_simulation``."""

from __future__ import annotations

import pandas as pd
import pytest

from bps_core import verbs
from bps_core.project import Project


def test_run_simulation__writes_the_curve_and_the_95_table(embedded: Project) -> None:
    settings = verbs.SimulateSettings(label_column="particle_type", group_column="well",
                                      strategies=("random",), batch=8, rounds=2,
                                      seeds=1)  # fmt: skip
    seen: list[float] = []
    record = verbs.run_simulation(embedded, settings, seen.append, run_id="r1")
    assert isinstance(record, verbs.SimulationRecord)
    assert record.curve == f"{verbs.SIMULATIONS_DIR}/r1/curve.csv"
    curve = pd.read_csv(embedded.folder / record.curve)
    assert set(curve.strategy) == {"random"}
    assert (embedded.folder / record.labels_to_95).is_file()
    assert record.label_column == "particle_type"
    assert len(record.classes) >= 2
    assert seen[-1] == 1.0
    assert seen == sorted(seen)


def test_run_simulation__refuses_a_column_the_project_lacks(embedded: Project) -> None:
    settings = verbs.SimulateSettings(label_column="nope", strategies=("random",))
    with pytest.raises(verbs.SelectionError, match="no metadata column 'nope'"):
        verbs.run_simulation(embedded, settings)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"label_column": ""}, "label_column"),
        ({"label_column": "x", "strategies": ("random",), "batch": "8"}, "batch"),
        ({"label_column": "x", "strategies": ("random",), "seeds": 2.5}, "seeds"),
        ({"label_column": "x", "strategies": ("magic",)}, "strategies magic"),
        ({"label_column": "x", "strategies": ("random",), "model": "finetune"}, "model"),
        ({"label_column": "x", "strategies": ("random",), "rounds": 101}, "rounds"),
        ({"label_column": "x", "strategies": ("random",), "batch": 0}, "batch"),
        ({"label_column": "x", "strategies": ("random",), "test_fraction": 1.0}, "fraction"),
        ({"label_column": "x", "strategies": ("random",), "threshold": 0.0}, "threshold"),
    ],
)
def test_simulate_settings__a_bad_value_is_refused_naming_the_field(
    kwargs: dict[str, object], field: str
) -> None:
    with pytest.raises(verbs.SettingsError, match=field):
        verbs.SimulateSettings(**kwargs)  # type: ignore[arg-type]


def test_simulate_settings__round_trip_through_job_params() -> None:
    settings = verbs.SimulateSettings(label_column="particle_type", strategies=("random",),
                                      group_column="well")  # fmt: skip
    params = settings.to_params()
    assert params["strategies"] == ["random"]
    assert verbs.SimulateSettings.from_params(params) == settings


def test_store_truth_upload__keeps_the_csv_under_simulations_where_the_settings_accept_it(
    tiny_project: Project,
) -> None:
    s = tiny_project.samples()
    names = s.key.str.split(":", n=1).str[-1]
    data = pd.DataFrame({"filename": names, "truth": s.particle_type, "well": s.well})
    raw = data.to_csv(index=False).encode()
    rel = verbs.store_truth_upload(tiny_project, raw)
    assert rel.startswith(f"{verbs.SIMULATIONS_DIR}/uploads/")
    assert rel.endswith(".csv")
    assert (tiny_project.folder / rel).read_bytes() == raw
    assert verbs.store_truth_upload(tiny_project, raw) == rel  # the same upload: one file
    settings = verbs.SimulateSettings(label_column="truth", strategies=("random",),
                                      group_column="well", truth_csv=rel)  # fmt: skip
    settings.check(tiny_project)  # no error: a readable truth file under simulations/


def test_store_truth_upload__a_failed_write_leaves_no_partial_file(
    tiny_project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    def disk_full(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(verbs.StorageWriteError, match="could not write .*uploads"):
        verbs.store_truth_upload(tiny_project, b"filename,truth\na.tif,x\n")
    uploads = tiny_project.folder / verbs.SIMULATIONS_DIR / "uploads"
    assert list(uploads.iterdir()) == []  # neither the file nor a temp file
