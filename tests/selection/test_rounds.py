from __future__ import annotations

import json

import pytest

from bps_core.embeddings import EmbedConfig, compute_embeddings
from bps_core.project import Project
from bps_core.selection import SelectionConfig, SelectionError
from bps_core.selection.rounds import (
    build_pool,
    create_round,
    learning_curve,
    list_rounds,
    predictions,
    select_round,
    train_model,
)


@pytest.fixture
def project(tiny_project: Project) -> Project:
    compute_embeddings(tiny_project, EmbedConfig(method="pixels", image_size=32))
    return tiny_project


def _label_by_particle(project: Project, n: int) -> None:
    s = project.samples()
    for particle in ("Fe", "X-ray"):
        keys = s[s.particle_type == particle].key.head(n).tolist()
        project.add_labels(keys, particle, user="ann", source="api")


def test_round__without_labels_is_random_and_recorded(project: Project) -> None:
    r = create_round(project, 12, seed=3, user="ann")
    assert len(r.keys) == 12
    assert r.config["strategy"] == "random"  # default for the first labels
    rounds = list_rounds(project)
    assert [x.keys for x in rounds] == [r.keys]  # stored in order
    assert rounds[0].user == "ann"
    assert create_round(project, 12, seed=3).keys == r.keys  # reproducible
    project.add_labels(r.keys, "Fe", user="ann", source="api")  # one class: no model yet
    assert select_round(project, 5, seed=3).config["strategy"] == "typicality"


def test_train__then_rounds_use_uncertainty_and_link_models(project: Project) -> None:
    _label_by_particle(project, 15)
    first = create_round(project, 10, strategy="random", seed=0)
    model = train_model(project, user="ann")
    assert model.classes == ["Fe", "X-ray"]
    assert model.n_labeled == 30
    assert model.metrics["grouped_by"] == "well"
    probs = predictions(project, model)
    assert probs.shape == (project.n_samples(), 2)
    assert list_rounds(project)[0].model_after == model.id
    pool = build_pool(project)
    assert pool.probabilities is not None
    assert select_round(project, 10, seed=0).config["strategy"] == "random"  # default
    second = create_round(project, 10, strategy="hybrid", seed=0)
    assert second.config["strategy"] == "hybrid"
    assert second.model_before == model.id
    labeled = set(project.current_labels().key)
    assert not labeled & set(second.keys)
    assert first.id < second.id
    curve = learning_curve(project)
    assert curve.n_labeled.tolist() == [30]


def test_round__from_a_lightly_config(project: Project) -> None:
    cfg = SelectionConfig.from_json(json.dumps({
        "n_samples": 8,
        "strategies": [
            {"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY"}},
            {"input": {"type": "METADATA", "key": "particle_type"},
             "strategy": {"type": "BALANCE", "target": {"Fe": 0.5, "X-ray": 0.5}}},
        ],
    }))  # fmt: skip
    r = create_round(project, 8, config=cfg)
    s = project.samples().set_index("key")
    assert s.loc[r.keys, "particle_type"].value_counts().to_dict() == {"Fe": 4, "X-ray": 4}
    assert list_rounds(project)[0].config["strategies"][1]["strategy"]["type"] == "BALANCE"


def test_errors__are_clear(tiny_project: Project) -> None:
    with pytest.raises(SelectionError, match="no embeddings"):
        create_round(tiny_project, 5)
    compute_embeddings(tiny_project, EmbedConfig(method="pixels", image_size=32))
    with pytest.raises(SelectionError, match="at least two classes"):
        train_model(tiny_project)
    with pytest.raises(SelectionError, match="only .* unlabeled candidates"):
        create_round(tiny_project, 10_000)
    with pytest.raises(SelectionError, match="train a model"):
        create_round(tiny_project, 5, strategy="uncertainty")
    assert list_rounds(tiny_project) == []  # nothing half-written


def test_finetune__trains_the_simclr_backbone_with_a_head_and_predicts_everything(
    tiny_project: Project,
) -> None:
    import numpy as np

    from bps_core.embeddings.finetune import FinetuneConfig, finetune_predict
    from bps_core.embeddings.train import load_checkpoint
    from bps_core.selection.model import ModelConfig

    emb = compute_embeddings(tiny_project, EmbedConfig(method="simclr", arch="resnet10", epochs=1,
                                                       image_size=32, batch_size=32))  # fmt: skip
    _label_by_particle(tiny_project, 12)
    progress: list[float] = []
    cfg = ModelConfig(kind="finetune", finetune_epochs=2, finetune_folds=2)
    model = train_model(tiny_project, cfg, progress=progress.append)
    assert model.kind == "finetune"
    assert model.classes == ["Fe", "X-ray"]
    assert model.metrics["n_folds"] == 2
    assert model.metrics["grouped_by"] == "well"
    probs = predictions(tiny_project, model)
    assert probs.shape == (len(emb.keys), 2)
    assert np.allclose(probs.sum(axis=1), 1, atol=1e-4)
    assert progress
    assert progress[-1] == pytest.approx(1.0, abs=0.05)
    # the head learns: on a task it can fit, training rows come out right
    backbone, _ = load_checkpoint(tiny_project.arrays_dir / "checkpoints", emb.checkpoint_sha)
    images = np.zeros((8, 32, 32), dtype=np.uint16)
    images[4:, 8:24, 8:24] = 60000  # a bright square: class 1
    rows = np.arange(8)
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    p = finetune_predict(backbone, images, rows, y, 2, rows,
                         FinetuneConfig(epochs=30, batch_size=8, augment=False))  # fmt: skip
    assert (p.argmax(axis=1) == y).all()


def test_finetune__needs_simclr_embeddings(project: Project) -> None:
    from bps_core.selection.model import ModelConfig

    _label_by_particle(project, 5)
    with pytest.raises(SelectionError, match="fine-tuning needs SimCLR embeddings"):
        train_model(project, ModelConfig(kind="finetune"))
