"""Lightly CSV interop, the pixel baseline, stored sets and grouped k-NN quality."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lightly.utils import io as lightly_io

from bps_core.embeddings.lightly_csv import (
    coverage_note,
    export_embeddings_csv,
    import_embeddings_csv,
)
from bps_core.embeddings.pixels import pixel_embeddings
from bps_core.embeddings.quality import cosine_neighbours, knn_quality
from bps_core.embeddings.store import load_embedding_set, save_embedding_set
from bps_core.errors import MetadataError
from bps_core.project import Project


def test_export__lightly_reads_and_checks_what_we_write(tmp_path: Path) -> None:
    vecs = np.random.default_rng(0).normal(size=(5, 7)).astype(np.float32)
    names = [f"sub/img_{i}.tif" for i in range(5)]
    path = tmp_path / "emb.csv"
    export_embeddings_csv(path, vecs, names)
    lightly_io.check_embeddings(str(path))
    loaded, labels, filenames = lightly_io.load_embeddings(str(path))
    assert filenames == names
    assert labels == [0] * 5
    assert np.allclose(loaded, vecs, atol=1e-6)
    header = path.read_text().splitlines()[0]
    assert header == "filenames," + ",".join(f"embedding_{i}" for i in range(7)) + ",labels"


def test_import__reads_what_lightly_writes_and_reports_unknown_names(tmp_path: Path) -> None:
    vecs = np.random.default_rng(1).normal(size=(4, 3))
    path = tmp_path / "lightly.csv"
    lightly_io.save_embeddings(
        str(path), vecs, [0, 1, 0, 1], ["a.tif", "d/b.tif", "c.tif", "zz.tif"]
    )
    imp = import_embeddings_csv(
        path, {"a.tif": "input:a.tif", "x/b.tif": "input:x/b.tif", "c.tif": "input:c.tif"}
    )
    assert imp.keys == ["input:a.tif", "input:x/b.tif", "input:c.tif"]  # b matched by basename
    assert imp.unknown_files == ["zz.tif"]
    assert np.allclose(np.linalg.norm(imp.vectors, axis=1), 1.0)
    expected = vecs[:3] / np.linalg.norm(vecs[:3], axis=1, keepdims=True)
    assert np.allclose(imp.vectors, expected, atol=1e-6)


def test_import__malformed_csv_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("name,x,y\na.tif,1,2\n")
    with pytest.raises(MetadataError, match="not a Lightly embeddings CSV"):
        import_embeddings_csv(bad, {"a.tif": "input:a.tif"})


@pytest.mark.parametrize(
    ("header", "said"),
    [
        ("filename,embedding_0,labels", "column 1 must be named 'filenames'"),
        ("filenames,embedding_0", "line 1 has no 'labels' column"),
        ("filenames,embedding_0,x_1,labels", "column 3 is not embedding_<i>, masked or selected"),
        ("filenames, embedding_0,labels", "column 2's name has spaces around it"),
        ("filenames,masked,labels", "line 1 names no embedding_<i> column"),
    ],
)
def test_import__a_wrong_header_names_the_column_at_fault(
    tmp_path: Path, header: str, said: str
) -> None:
    """Every wrong header read "line 1 is not a Lightly embeddings header", naming no column."""
    bad = tmp_path / "bad.csv"
    bad.write_text(header + "\na.tif,1,0\n")
    with pytest.raises(MetadataError, match=re.escape(said)):
        import_embeddings_csv(bad, {"a.tif": "input:a.tif"})


def test_coverage_note__says_what_an_imported_set_left_out() -> None:
    assert coverage_note({"csv": "x", "unknown_files": 0, "samples_without_vector": 0}) is None
    assert coverage_note({"k": 1}) is None
    note = coverage_note({"unknown_files": 3, "samples_without_vector": 520})
    assert note is not None
    assert note.startswith("520 readable samples of the project have no row in the CSV")
    assert "3 file names in the CSV match no sample" in note


def test_pixel_embeddings__shape_and_errors() -> None:
    imgs = np.random.default_rng(0).integers(0, 65535, (30, 32, 32)).astype(np.uint16)
    assert pixel_embeddings(imgs, dim=8).shape == (30, 8)
    with pytest.raises(ValueError, match="divisible"):
        pixel_embeddings(imgs[:, :30, :30])


def test_store__save_load_current_and_versioning(tiny_project: Project) -> None:
    keys = tiny_project.samples().key.head(4).tolist()
    vecs = np.arange(12, dtype=np.float32).reshape(4, 3) + 1
    a = save_embedding_set(tiny_project, "pixels", {"k": 1}, keys, vecs)
    b = save_embedding_set(tiny_project, "pixels", {"k": 2}, keys, vecs)
    assert a.version != b.version
    cur = load_embedding_set(tiny_project)
    assert cur is not None
    assert cur.version == b.version
    assert cur.keys == keys
    assert np.allclose(np.linalg.norm(cur.vectors, axis=1), 1.0)
    assert load_embedding_set(tiny_project, a.version).params == {"k": 1}
    with pytest.raises(ValueError, match="keys"):
        save_embedding_set(tiny_project, "pixels", {}, keys[:2], vecs)


def test_knn_quality__separable_truth_scores_high_and_rare_class_is_found() -> None:
    rng = np.random.default_rng(0)
    n = 400
    wells = np.repeat([f"W{i}" for i in range(8)], n // 8)
    rare = rng.random(n) < 0.05
    vecs = rng.normal(size=(n, 8))
    vecs[rare, 0] += 6.0  # the rare class lives in its own direction
    truth = pd.DataFrame({"filename": [f"f{i}.tif" for i in range(n)], "well": wells,
                          "has_track": rare.astype(int), "particle_type": "Fe"})  # fmt: skip
    q = knn_quality(vecs, [f"input:f{i}.tif" for i in range(n)], truth)
    assert q["has_track"]["balanced_accuracy"] > 0.9  # a majority vote would sit at 0.5
    assert "particle_type" not in q  # a single class carries no information
    capped = knn_quality(vecs, [f"input:f{i}.tif" for i in range(n)], truth, max_samples=200)
    assert capped["has_track"]["n"] == 200  # large sets are scored on a seeded subsample
    assert capped == knn_quality(vecs, [f"input:f{i}.tif" for i in range(n)], truth,
                                 max_samples=200)  # fmt: skip


def _sklearn_knn_quality(vecs: np.ndarray, truth: pd.DataFrame, label: str) -> dict[str, float]:
    """The scikit-learn classifier knn_quality used before (one search per label and fold)."""
    from sklearn.metrics import balanced_accuracy_score, roc_auc_score
    from sklearn.model_selection import GroupKFold
    from sklearn.neighbors import KNeighborsClassifier

    y = truth[label].astype(str).to_numpy()
    classes = np.unique(y)
    votes = np.zeros((len(y), len(classes)))
    for train, test in GroupKFold(n_splits=5).split(vecs, y, truth.well.to_numpy()):
        clf = KNeighborsClassifier(n_neighbors=10, metric="cosine").fit(vecs[train], y[train])
        cols = np.searchsorted(classes, clf.classes_)
        prior = np.array([np.mean(y[train] == c) for c in clf.classes_])
        votes[np.ix_(test, cols)] = clf.predict_proba(vecs[test]) / prior
    pred = classes[np.argmax(votes, axis=1)]
    out = {"balanced_accuracy": float(balanced_accuracy_score(y, pred))}
    if len(classes) == 2:
        out["roc_auc"] = float(roc_auc_score(y == classes[1], votes[:, 1]))
    return out


def test_knn_quality__same_scores_as_scikit_learns_cosine_classifier() -> None:
    rng = np.random.default_rng(3)
    n = 600
    truth = pd.DataFrame({
        "filename": [f"f{i}.tif" for i in range(n)],
        "well": np.repeat([f"W{i}" for i in range(10)], n // 10),
        "has_track": (rng.random(n) < 0.1).astype(int),
        "particle_type": rng.choice(["Fe", "X-ray", "none"], n),
    })  # fmt: skip
    vecs = rng.normal(size=(n, 16)).astype(np.float32)
    vecs[truth.has_track == 1, 0] += 1.5
    vecs[truth.particle_type == "Fe", 1] += 1.0
    vecs[:3] = 0.0  # zero vectors: distance 1 to everything, as scikit-learn has it
    q = knn_quality(vecs, [f"input:f{i}.tif" for i in range(n)], truth)
    for label in ("has_track", "particle_type"):
        ref = _sklearn_knn_quality(vecs, truth, label)
        for name, value in ref.items():
            assert q[label][name] == pytest.approx(value, abs=1e-9), (label, name)


def test_cosine_neighbours__the_nearest_rows_by_cosine_distance() -> None:
    from sklearn.neighbors import NearestNeighbors

    rng = np.random.default_rng(4)
    ref, qry = rng.normal(size=(300, 12)), rng.normal(size=(50, 12))
    got = cosine_neighbours(ref, qry, 7, block=16)  # several blocks
    want = NearestNeighbors(n_neighbors=7, metric="cosine").fit(ref).kneighbors(qry)[1]
    assert got.shape == (50, 7)
    assert [set(r) for r in got] == [set(r) for r in want]
