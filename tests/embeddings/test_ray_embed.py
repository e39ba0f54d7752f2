"""Embedding on Ray (a local Ray with 2 CPUs): the same set as in-process, and lost workers."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import ray  # a [dev] dependency: these tests run in CI, never skip

from bps_core.embeddings import EmbedConfig, compute_embeddings
from bps_core.embeddings.ray_embed import (
    FAULT_ENV,
    RayPlan,
    _Hidden,
    _pool,
    check_ray_address,
    ray_failure,
    ray_session,
)
from bps_core.embeddings.store import EmbeddingSet
from bps_core.errors import BpsError, SettingsError
from bps_core.project import Project, create_project
from bps_core.storage import DatasourceConfig
from tests.s3_server import REGION, S3Server


@pytest.fixture(scope="module")
def local_ray() -> Iterator[Any]:
    """One local Ray for the module (starting one costs seconds), shut down after it.

    Its workers see no AWS keys in their environment: an S3 source in ``keys`` mode works on
    them only if the driver's keys reach the actors (``ray_embed._worker_env``).
    """
    no_keys = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": ""}
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        logging_level="ERROR",
        runtime_env={"env_vars": no_keys},
    )
    yield ray
    ray.shutdown()


def _drop_decode_cache(project: Project) -> None:
    """So that the next run decodes again (on Ray, when it runs there)."""
    shutil.rmtree(project.arrays_dir / "cache", ignore_errors=True)


def _assert_same_set(a: EmbeddingSet, b: EmbeddingSet) -> None:
    assert b.keys == a.keys  # same keys, same order
    assert b.vectors.shape == a.vectors.shape
    cosine = np.sum(np.asarray(a.vectors) * np.asarray(b.vectors), axis=1)
    assert cosine.min() >= 0.9999


def test_ray_embed__pixels_equal_in_process_and_progress_streams(
    tiny_project: Project, local_ray: Any
) -> None:
    here = compute_embeddings(tiny_project, EmbedConfig(method="pixels", image_size=32))
    _drop_decode_cache(tiny_project)
    seen: list[float] = []
    cfg = EmbedConfig(method="pixels", image_size=32, ray_address="local")
    on_ray = compute_embeddings(tiny_project, cfg, progress=seen.append)
    _assert_same_set(here, on_ray)
    assert on_ray.version == here.version  # where it ran is not part of what the set is
    assert len([f for f in seen if 0 < f < 1]) >= 2  # one step per block that came back
    assert seen == sorted(seen)
    assert seen[-1] == 1.0
    assert not list((tiny_project.arrays_dir / "ray").glob("*"))  # shards assembled, removed


def test_ray_embed__simclr_checkpoint_equals_in_process(
    tiny_project: Project, local_ray: Any
) -> None:
    trained = compute_embeddings(
        tiny_project,
        EmbedConfig(method="simclr", arch="resnet10", epochs=1, image_size=32, batch_size=32),
    )
    assert trained.checkpoint_sha is not None
    cfg = EmbedConfig(image_size=32, checkpoint=trained.checkpoint_sha)
    here = compute_embeddings(tiny_project, cfg)
    _drop_decode_cache(tiny_project)  # decode and inference both on Ray
    on_ray = compute_embeddings(
        tiny_project, EmbedConfig(**{**cfg.to_params(), "ray_address": "local"})
    )
    _assert_same_set(here, on_ray)
    assert on_ray.checkpoint_sha == trained.checkpoint_sha


def test_ray_embed__simclr_training_run_decodes_on_ray_and_embeds_from_the_cache(
    tiny_project: Project, local_ray: Any
) -> None:
    cfg = EmbedConfig(
        method="simclr", arch="resnet10", epochs=1, image_size=32, batch_size=32,
        ray_address="local",
    )  # fmt: skip
    on_ray = compute_embeddings(tiny_project, cfg)
    assert on_ray.checkpoint_sha is not None
    assert (tiny_project.arrays_dir / "cache" / "img32.npy").is_file()  # built from Ray's rows
    here = compute_embeddings(
        tiny_project, EmbedConfig(image_size=32, checkpoint=on_ray.checkpoint_sha)
    )
    _assert_same_set(here, on_ray)


def test_ray_embed__a_worker_killed_mid_job_is_retried_and_nothing_is_lost(
    tiny_project: Project, local_ray: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    here = compute_embeddings(tiny_project, EmbedConfig(method="pixels", image_size=32))
    _drop_decode_cache(tiny_project)
    marker = tmp_path / "killed-once"
    monkeypatch.setenv(FAULT_ENV, str(marker))  # the first batch's actor kills its process
    cfg = EmbedConfig(method="pixels", image_size=32, ray_address="local")
    on_ray = compute_embeddings(tiny_project, cfg)
    assert marker.exists()  # a worker did die
    _assert_same_set(here, on_ray)


def test_ray_embed__a_bad_file_is_marked_and_skipped(tiny_project: Project, local_ray: Any) -> None:
    rel = tiny_project.samples().relpath.iloc[0]
    (Path(tiny_project.config.datasource.path) / rel).write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    cfg = EmbedConfig(method="pixels", image_size=32, ray_address="local")
    on_ray = compute_embeddings(tiny_project, cfg)
    assert len(on_ray.keys) == 169
    assert tiny_project.n_samples("bad") == 1


@pytest.mark.usefixtures("fresh_s3_clients")
def test_ray_embed__s3_keys_reach_the_workers_and_the_set_equals_in_process(
    s3_server: S3Server, bps_bucket: str, tmp_path: Path, local_ray: Any
) -> None:
    source = DatasourceConfig.s3(
        f"s3://{bps_bucket}/Microscopy/train", region=REGION, endpoint_url=s3_server.endpoint,
        allow_private_endpoint=True, auth="keys",
    )  # fmt: skip
    project, _ = create_project(tmp_path / "s3project", source)
    try:
        here = compute_embeddings(project, EmbedConfig(method="pixels", image_size=32))
        _drop_decode_cache(project)
        cfg = EmbedConfig(method="pixels", image_size=32, ray_address="local")
        on_ray = compute_embeddings(project, cfg)
    finally:
        project.close()
    _assert_same_set(here, on_ray)


@pytest.mark.parametrize("address", ["", "auto", "local", "ray://head:10001", "ray://10.0.0.5:1"])
def test_check_ray_address__accepts_the_documented_forms(address: str) -> None:
    check_ray_address(address)


@pytest.mark.parametrize(
    "address", ["ray://head", "http://head:8265", "head:10001", "ray://head:0", "ray://:1"]
)
def test_embed_config__refuses_a_malformed_ray_address(address: str) -> None:
    with pytest.raises(SettingsError, match="ray_address"):
        EmbedConfig(method="pixels", ray_address=address)


def test_embed_config__refuses_ray_for_a_csv_import() -> None:
    with pytest.raises(SettingsError, match="ray_address"):
        EmbedConfig(method="csv", csv="e.csv", ray_address="local")


def test_ray_session__without_ray_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    with (
        pytest.raises(BpsError, match=r"pip install 'bps-labeler\[ray\]'") as err,
        ray_session("local"),
    ):
        pass
    assert "\n" not in str(err.value)


def test_hidden__repr_names_the_variables_never_the_values() -> None:
    env = _Hidden({"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "s3cr3t"})
    assert "s3cr3t" not in repr(env)
    assert "AKIAEXAMPLE" not in repr(env)
    assert dict(env)["AWS_SECRET_ACCESS_KEY"] == "s3cr3t"


def _raise_bps_error(batch: dict[str, Any]) -> dict[str, Any]:
    raise BpsError("s3://bucket/prefix: access denied; apply the IAM policy")


def test_ray_failure__a_worker_bps_error_comes_back_as_its_own_line(local_ray: Any) -> None:
    with pytest.raises(ray.exceptions.RayError) as raised:
        ray.data.range(2).map_batches(_raise_bps_error).materialize()
    err = ray_failure(raised.value)
    assert str(err) == "s3://bucket/prefix: access denied; apply the IAM policy"


def test_ray_failure__any_other_error_is_one_line() -> None:
    err = ray_failure(ray.exceptions.RaySystemError("raylet died\nTraceback (most recent ...)"))
    assert isinstance(err, BpsError)
    assert "\n" not in str(err)
    assert "raylet died" in str(err)


class _FakeCluster:
    """Stands in for the ``ray`` module's ``cluster_resources`` (no GPU on this machine)."""

    def __init__(self, **resources: float) -> None:
        self.resources = resources

    def cluster_resources(self) -> dict[str, float]:
        return self.resources


def test_pool__gpu_actors_on_a_cluster_with_gpus_cpu_actors_otherwise() -> None:
    """The GPU path's planning runs on CPU: one GPU actor per GPU for the backbone, none for
    pixels; asking for GPUs on a cluster without any is one clear error."""
    gpus = _FakeCluster(CPU=64, GPU=4)
    assert _pool(gpus, "backbone", RayPlan()) == (4, {"num_gpus": 1, "num_cpus": 1.0}, True)
    assert _pool(gpus, "pixels", RayPlan()) == (64, {"num_cpus": 1.0}, False)
    assert _pool(gpus, "backbone", RayPlan(use_gpus=False, cpus_per_actor=4)) == (
        16, {"num_cpus": 4}, False)  # fmt: skip
    cpus = _FakeCluster(CPU=2)
    assert _pool(cpus, "backbone", RayPlan()) == (2, {"num_cpus": 1.0}, False)
    with pytest.raises(BpsError, match="no GPU"):
        _pool(cpus, "backbone", RayPlan(use_gpus=True))
