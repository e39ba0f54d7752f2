from __future__ import annotations

import json

import pytest

from bps_core.embeddings import EmbedConfig, compute_embeddings
from bps_core.project import Project
from bps_core.selection import SelectionConfig, SelectionError
from bps_core.selection.rounds import (
    build_pool,
    learning_curve,
    list_rounds,
    predictions,
    record_round,
    select_round,
    train_model,
)
from tests.helpers import create_round


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
    # reproducible: the same seed over the same pool picks the same samples (re-including
    # the round's own picks; by default they are held back, see the next tests)
    assert select_round(project, 12, seed=3, reinclude_selected=True).keys == r.keys
    project.add_labels(r.keys, "Fe", user="ann", source="api")  # one class: no model yet
    assert select_round(project, 5, seed=3).config["strategy"] == "typiclust"


def test_train__then_rounds_use_uncertainty_and_link_models(project: Project) -> None:
    _label_by_particle(project, 15)
    first = create_round(project, 10, strategy="random", seed=0)
    project.add_labels(first.keys, "Fe", user="ann", source="api")  # the round is labeled
    model = train_model(project, user="ann")
    assert model.classes == ["Fe", "X-ray"]
    assert model.n_labeled == 40
    assert model.metrics["grouped_by"] == "well"
    probs = predictions(project, model)
    assert probs.shape == (project.n_samples(), 2)
    assert list_rounds(project)[0].model_after == model.id
    pool = build_pool(project)
    assert pool.probabilities is not None
    # default once a model exists: the strategy it stood for is recorded
    assert select_round(project, 10, seed=0).config["strategy"] == "error_adaptive"
    second = create_round(project, 10, strategy="hybrid", seed=0)
    assert second.config["strategy"] == "hybrid"
    assert second.model_before == model.id
    labeled = set(project.current_labels().key)
    assert not labeled & set(second.keys)
    assert first.id < second.id
    curve = learning_curve(project)
    assert curve.n_labeled.tolist() == [40]


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
    # the head learns: on a task it can fit, training rows come out right (60 epochs: at 30 the
    # batch-norm running statistics of the 8-image batches were still too far from the
    # batch statistics on some CPUs, and every row came out class 0)
    backbone, _ = load_checkpoint(tiny_project.arrays_dir / "checkpoints", emb.checkpoint_sha)
    images = np.zeros((8, 32, 32), dtype=np.uint16)
    images[4:, 8:24, 8:24] = 60000  # a bright square: class 1
    rows = np.arange(8)
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    p = finetune_predict(backbone, images, rows, y, 2, rows,
                         FinetuneConfig(epochs=60, batch_size=8, augment=False))  # fmt: skip
    assert (p.argmax(axis=1) == y).all()


def test_finetune__needs_simclr_embeddings(project: Project) -> None:
    from bps_core.selection.model import ModelConfig

    _label_by_particle(project, 5)
    with pytest.raises(SelectionError, match="fine-tuning needs SimCLR embeddings"):
        train_model(project, ModelConfig(kind="finetune"))


def test_rounds__consecutive_rounds_share_no_sample(project: Project) -> None:
    first = create_round(project, 40, seed=0)
    second = create_round(project, 40, seed=0)  # even with the same seed
    assert not set(first.keys) & set(second.keys)
    assert second.config["round"]["held_back"] == 40
    third = create_round(project, 40, strategy="diversity")
    assert not set(third.keys) & (set(first.keys) | set(second.keys))


def test_rounds__a_fresh_seed_is_drawn_and_recorded(project: Project) -> None:
    a = create_round(project, 5)
    b = create_round(project, 5)
    assert a.seed is not None
    assert b.seed is not None
    assert a.seed != b.seed  # 1 in 2**31 to collide
    assert a.config["round"]["seed_drawn"] is True
    assert [r.seed for r in list_rounds(project)] == [a.seed, b.seed]
    given = create_round(project, 5, seed=7)
    assert given.seed == 7
    assert given.config["round"]["seed_drawn"] is False
    # the recorded seed reproduces the round over the same pool
    assert select_round(project, 5, seed=a.seed, reinclude_selected=True).keys == a.keys


def test_rounds__reinclude_selected_picks_earlier_picks_again(project: Project) -> None:
    n = len(build_pool(project).candidates)
    first = create_round(project, n - 10, seed=1)
    with pytest.raises(SelectionError, match="held back: label them, or re-include them"):
        select_round(project, 20)
    again = select_round(project, 20, reinclude_selected=True, seed=1)
    assert set(again.keys) & set(first.keys)
    assert again.config["round"]["reinclude_selected"] is True


def test_rounds__two_previews_of_the_same_pool_are_not_both_recorded(project: Project) -> None:
    """Two sessions previewed at the same time (same seed: the same picks) and both accepted:
    the second round repeated the first one's samples."""
    a = select_round(project, 5, seed=12345)
    b = select_round(project, 5, seed=12345)
    assert a.keys == b.keys
    first = record_round(project, a, user="tester")
    with pytest.raises(SelectionError, match=rf"5 of the 5 previewed samples were picked by "
                       rf"round {first.id}, recorded since .* Preview again"):  # fmt: skip
        record_round(project, b, user="carol")
    assert [r.id for r in list_rounds(project)] == [first.id]  # nothing recorded
    again = select_round(project, 5, seed=12345)  # a new preview leaves them out
    assert not set(again.keys) & set(first.keys)
    record_round(project, again, user="carol")
    # a preview that re-includes earlier picks may repeat them: that was asked for
    repeat = select_round(project, 5, seed=12345, reinclude_selected=True)
    assert set(repeat.keys) & set(first.keys)
    assert set(record_round(project, repeat).keys) == set(repeat.keys)


def test_train__a_round_gets_its_after_model_only_once_its_samples_are_labeled(
    project: Project,
) -> None:
    _label_by_particle(project, 10)
    r = create_round(project, 6, strategy="random")
    early = train_model(project)
    assert list_rounds(project)[0].model_after is None  # none of its samples labeled
    project.add_labels(r.keys[:3], "Fe", user="ann", source="api")
    train_model(project)
    assert list_rounds(project)[0].model_after is None  # half labeled
    project.add_labels(r.keys[3:], "X-ray", user="ann", source="api")
    late = train_model(project)
    assert list_rounds(project)[0].model_after == late.id != early.id


def test_round__a_lightly_config_decides_the_batch_size(project: Project) -> None:
    cfg = SelectionConfig.from_json(json.dumps({
        "n_samples": 7,
        "strategies": [{"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY"}}],
    }))  # fmt: skip
    assert len(select_round(project, config=cfg).keys) == 7
    prop = SelectionConfig.from_json(json.dumps({
        "proportion_samples": 0.1,
        "strategies": [{"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY"}}],
    }))  # fmt: skip
    assert len(select_round(project, config=prop).keys) == round(0.1 * project.n_samples())


def test_round__balance_threshold_and_similarity_options(project: Project) -> None:
    from bps_core.selection.options import RoundOptions

    s = project.samples().set_index("key")
    balanced = select_round(project, 10, strategy="diversity",
                            options=RoundOptions(balance_by=("particle_type",)))  # fmt: skip
    assert s.loc[balanced.keys, "particle_type"].value_counts().to_dict() == {"Fe": 5, "X-ray": 5}
    assert balanced.config["balance_by"] == ["particle_type"]
    late = select_round(project, 10, options=RoundOptions(
        threshold_column="hr_post_exposure", threshold_operation="BIGGER_EQUAL",
        threshold_value=24))  # fmt: skip
    assert (s.loc[late.keys, "hr_post_exposure"].astype(float) >= 24).all()
    query = s.index[:2].tolist()
    similar = select_round(project, 5, options=RoundOptions(similar_to=tuple(query)))
    assert not set(similar.keys) & set(query)
    assert similar.config["similar_to"] == query
    with pytest.raises(SelectionError, match="no metadata column 'nope'"):
        select_round(project, 5, options=RoundOptions(balance_by=("nope",)))


def test_select_round__default_reads_no_samples_frame_and_picks_the_same(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    _label_by_particle(project, 15)
    train_model(project, user="ann")
    bad = project.samples().key.iloc[5]
    project.mark_bad(bad, "truncated")
    with_frame = build_pool(project, metadata=True)
    expected = select_round(project, 10, seed=4).keys
    assert bad not in expected

    def no_frame() -> None:
        raise AssertionError("a round without metadata options read the samples frame")

    monkeypatch.setattr(project, "samples", no_frame)
    lean = build_pool(project, metadata=False)
    assert lean.metadata is None
    assert lean.excluded is not None
    assert with_frame.excluded is not None
    assert (lean.excluded == with_frame.excluded).all()
    assert (lean.labeled == with_frame.labeled).all()
    assert select_round(project, 10, seed=4).keys == expected
    project.mark_bad(expected[0], "truncated")  # a change after the last round is seen
    assert expected[0] not in select_round(project, 10, seed=4).keys
