from pathlib import Path

import numpy as np
import pandas as pd
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


def test_create_embedding_project__each_sample_has_a_decodable_crop_of_its_condition(tmp_path):
    from bps_core.images import decode_image

    project = create_embedding_project(tmp_path / "p", 80, dim=8, seed=2)
    try:
        samples = project.samples()
        root = Path(project.config.datasource.path)
        files = [root / rel for rel in samples.relpath]
        assert all(f.is_file() for f in files)
        assert all(f.stat().st_nlink > 1 for f in files)  # links, not 80 copies
        img = decode_image(files[0].read_bytes(), files[0].name)
        assert img.dtype == np.uint16
        assert img.ndim == 2
        # a sample's file is a crop of its own particle and dose (the generator's meta.csv)
        meta = pd.read_csv(tmp_path / "p" / "image_sources" / "Microscopy/train/meta.csv")
        by_inode = {
            (tmp_path / "p" / "image_sources" / "Microscopy/train" / f).stat().st_ino: (pt, d)
            for f, pt, d in zip(meta.filename, meta.particle_type, meta.dose_Gy, strict=True)
        }
        for f, pt, d in zip(files, samples.particle_type, samples.dose_Gy, strict=True):
            assert by_inode[f.stat().st_ino] == (pt, d)
    finally:
        project.close()


def test_create_embedding_project__without_images_the_folder_stays_empty(tmp_path):
    project = create_embedding_project(tmp_path / "p", 20, dim=8, images=False)
    try:
        assert not any(Path(project.config.datasource.path).rglob("*.tif"))
    finally:
        project.close()
