"""Verb ``ingest``: re-lists the input datasource with typed settings."""

from __future__ import annotations

import pytest

from bps_core import verbs
from bps_core.project import Project


def test_ingest__relists_the_source_and_reports_progress(tiny_project: Project) -> None:
    seen: list[float] = []
    listed: list[int] = []
    report = verbs.ingest(tiny_project, verbs.IngestSettings(), seen.append,
                          on_listed=listed.append)  # fmt: skip
    assert isinstance(report, verbs.IngestReport)
    assert report.n_samples == tiny_project.n_samples() > 0
    assert listed
    assert listed[0] >= report.n_samples
    assert seen
    assert seen[-1] == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"all_channels": "yes"}, "all_channels"), ({"check_headers": 1}, "check_headers")],
)
def test_ingest_settings__a_bad_value_is_refused_naming_the_field(
    kwargs: dict[str, object], field: str
) -> None:
    with pytest.raises(verbs.SettingsError, match=field):
        verbs.IngestSettings(**kwargs)  # type: ignore[arg-type]


def test_ingest_settings__round_trip_through_job_params() -> None:
    settings = verbs.IngestSettings(all_channels=True, check_headers=False)
    assert verbs.IngestSettings.from_params(settings.to_params()) == settings
    with pytest.raises(verbs.SettingsError, match="unknown setting\\(s\\) channels"):
        verbs.IngestSettings.from_params({"channels": "all"})
