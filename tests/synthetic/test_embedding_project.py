import numpy as np
import pytest

from bps_core.embeddings.store import load_embedding_set
from bps_core.project.ingest import add_samples_without_files
from bps_core.project.store import Project
from bps_core.projection import current_map
from bps_core.synthetic.embedding_project import clustered_embeddings, create_embedding_project


def test_clustered_embeddings__seeded_unit_rows():
    a = clustered_embeddings(500, 32, seed=3, clusters=10)
    b = clustered_embeddings(500, 32, seed=3, clusters=10)
    assert a.shape == (500, 32)
    assert a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, rtol=1e-5)
    assert not np.array_equal(a, clustered_embeddings(500, 32, seed=4, clusters=10))


def test_create_embedding_project__samples_vectors_and_map_line_up(tmp_path):
    project = create_embedding_project(tmp_path / "p", 300, dim=16, seed=1)
    try:
        samples = project.samples()
        assert len(samples) == 300
        assert set(samples["status"]) == {"ok"}
        assert {"particle_type", "dose_Gy", "hr_post_exposure"} <= set(samples.columns)
        assert samples["particle_type"].nunique() == 2
        emb = load_embedding_set(project)
        assert emb is not None
        assert emb.keys == samples["key"].tolist()
        m = current_map(project)
        assert m is not None
        assert m.xy.shape == (300, 2)
        assert m.keys == emb.keys
        assert [c.name for c in project.classes()] == ["track", "foci", "none"]
    finally:
        project.close()
    reopened = Project.open(tmp_path / "p")
    assert len(reopened.samples()) == 300
    reopened.close()


def test_add_samples_without_files__lengths_must_match(tmp_path):
    project = create_embedding_project(tmp_path / "p", 10, dim=8)
    try:
        with pytest.raises(ValueError, match="2 paths for 1 metadata rows"):
            add_samples_without_files(project, ["a.tif", "b.tif"], [{}])
    finally:
        project.close()
