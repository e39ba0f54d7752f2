"""The command line's embedding sets and maps: list them, pick the current set and map."""

from __future__ import annotations

import numpy as np
import pytest

from bps_cli.main import main
from bps_core.embeddings.store import current_version
from bps_core.project import Project
from bps_core.projection import current_map


def test_embeddings_use_and_map_use__switch_back_and_forth(
    tiny_project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = str(tiny_project.folder)
    assert main(["embed", folder, "--method", "pixels", "--image-size", "32"]) == 0
    assert main(["map", folder, "--method", "pca"]) == 0
    first = current_version(tiny_project)
    first_map = current_map(tiny_project).id
    capsys.readouterr()
    assert main(["embed", folder, "--method", "pixels", "--image-size", "48"]) == 0
    out = capsys.readouterr().out
    second = current_version(tiny_project)
    assert second != first
    assert f"switch back with: bps-labeler embeddings use {folder} {first}" in out
    assert current_map(tiny_project) is None  # the old set's map is not shown for the new one

    assert main(["embeddings", "list", folder]) == 0
    listing = capsys.readouterr().out
    assert f"* {second}" in listing
    assert f"  {first}" in listing
    assert f"map {first_map}" in listing

    assert main(["embeddings", "use", folder, first[:5]]) == 0
    assert f"embedding set {first} is now current" in capsys.readouterr().out
    with Project.open(folder) as p:  # a fresh connection: the choice is in the database
        assert current_version(p) == first
        assert current_map(p).id == first_map

    assert main(["map", folder, "--method", "umap", "--epochs", "20"]) == 0
    assert "now shown" in capsys.readouterr().out
    assert current_map(tiny_project).id != first_map
    assert main(["map", folder, "--use", first_map]) == 0
    assert current_map(tiny_project).id == first_map

    assert main(["embeddings", "use", folder, "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no embedding set 'nope' in this project")
    assert main(["map", folder, "--use", "nope"]) == 2
    assert "no map 'nope'" in capsys.readouterr().err


def test_embed__ray_address_local_starts_ray_embeds_and_stops_it(
    tiny_project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    import ray

    folder = str(tiny_project.folder)
    args = ["embed", folder, "--method", "pixels", "--image-size", "32"]
    assert main([*args, "--ray-address", "local"]) == 0
    assert "170 samples x" in capsys.readouterr().out
    assert not ray.is_initialized()  # the CLI's own local Ray is shut down again


def test_embed__a_malformed_ray_address_is_one_line(
    tiny_project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = str(tiny_project.folder)
    assert main(["embed", folder, "--method", "pixels", "--ray-address", "head:10001"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ray_address 'head:10001': use auto")
    assert err.count("\n") == 1


def test_map__fit_sample_fits_a_sample_and_places_every_point(
    tiny_project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = str(tiny_project.folder)
    assert main(["embed", folder, "--method", "pixels", "--image-size", "32"]) == 0
    capsys.readouterr()
    assert main(["map", folder, "--epochs", "20", "--fit-sample", "50"]) == 0
    n = len(tiny_project.samples())
    said = capsys.readouterr().out
    assert f"for {n:,} points on this machine (UMAP fitted on 50)" in said  # before it starts
    m = current_map(tiny_project)
    assert m is not None
    assert m.config.fit_sample == 50
    assert m.xy.shape == (len(m.keys), 2)
    assert len(m.keys) > 50
    assert bool(np.isfinite(m.xy).all())


def test_embed__device_cuda_without_a_gpu_is_one_line_and_exit_2(
    tiny_project: Project, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    folder = str(tiny_project.folder)
    assert main(["embed", folder, "--device", "cuda", "--image-size", "32"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: device 'cuda': this machine has no CUDA GPU")
    assert err.count("\n") == 1
    assert "Traceback" not in err
    assert current_version(tiny_project) is None
    assert main(["embed", folder, "--device", "tpu"]) == 2
    assert capsys.readouterr().err.startswith("error: device 'tpu' is not one of auto, cpu, cuda")


def test_embed__device_cpu_trains_and_says_where_it_ran(
    tiny_project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = str(tiny_project.folder)
    args = ["embed", folder, "--device", "cpu", "--arch", "resnet10", "--epochs", "1",
            "--image-size", "32", "--batch-size", "32"]  # fmt: skip
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "embed (simclr) on cpu" in captured.out + captured.err
    assert current_version(tiny_project) is not None
