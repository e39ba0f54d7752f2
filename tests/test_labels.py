"""Pure label assignment and label CSV import."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bps_core.errors import MetadataError
from bps_core.labels import assign, import_labels_csv, read_labels_csv
from bps_core.project import Project

keys = st.lists(st.text(min_size=1, max_size=5), max_size=20)
label_maps = st.dictionaries(
    st.text(min_size=1, max_size=5), st.sampled_from(["a", "b"]), max_size=20
)


@given(label_maps, keys, st.sampled_from(["a", "b", None]))
def test_assign__is_idempotent_and_touches_only_selected_keys(
    labels: dict[str, str], selected: list[str], label: str | None
) -> None:
    once = assign(labels, selected, label)
    assert assign(once, selected, label) == once
    for k in set(labels) - set(selected):
        assert once[k] == labels[k]
    for k in selected:
        assert once.get(k) == label


def test_import_labels_csv__matches_names_and_reports_the_rest(tiny_project: Project) -> None:
    rel = tiny_project.samples().relpath.tolist()
    csv = f"filename,label\n{rel[0]},track\n{rel[1]},no_track\nmissing.tif,track\n{rel[2]},\n"
    report = import_labels_csv(tiny_project, csv.encode(), "labels.csv", user="ann")
    assert report.n_labeled == 2
    assert report.unknown_files == ["missing.tif"]
    assert report.empty_labels == [rel[2]]
    cur = tiny_project.current_labels()
    assert set(cur.label) == {"track", "no_track"}
    assert set(cur.source) == {"import"}
    assert cur.user.eq("ann").all()
    assert tiny_project.label_events().action_id.nunique() == 1


def test_read_labels_csv__needs_a_label_column() -> None:
    with pytest.raises(MetadataError, match="filename,label"):
        read_labels_csv(b"filename,class\na.tif,x\n", "l.csv")
