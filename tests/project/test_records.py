"""The typed stores a project reaches its tables through: embedding sets, maps, models,
rounds, and the label version and stored metadata (the only code that runs SQL)."""

from __future__ import annotations

import pytest

from bps_core.errors import SamplesTakenError, UnknownSampleError
from bps_core.project import Project
from bps_core.project.embedding_sets import EmbeddingSetRecord
from bps_core.project.maps import MapRecord
from bps_core.project.rounds import ModelRecord


def _set(version: str, created_at: str) -> EmbeddingSetRecord:
    path = f"arrays/embeddings/{version}.npy"
    return EmbeddingSetRecord(version, "pixels", {"size": 8}, None, 170, 8, path, created_at,
                              {"q": 1.0})  # fmt: skip


def test_embedding_sets__records_roundtrip_newest_first_and_current(
    tiny_project: Project,
) -> None:
    sets = tiny_project.embedding_sets
    assert sets.current_version() is None
    sets.add(_set("aaa", "2024-01-01"), make_current=True)
    sets.add(_set("bbb", "2024-02-01"), make_current=False)
    assert sets.get("aaa") == _set("aaa", "2024-01-01")
    assert sets.get("zzz") is None
    assert [r.version for r in sets.all()] == ["bbb", "aaa"]
    assert sorted(sets.versions()) == ["aaa", "bbb"]
    assert sets.current_version() == "aaa"
    sets.set_current("bbb")
    assert sets.current_version() == "bbb"


def test_maps__chosen_per_embedding_set_and_shown_in_one_step(tiny_project: Project) -> None:
    tiny_project.embedding_sets.add(_set("aaa", "2024-01-01"), make_current=True)
    tiny_project.embedding_sets.add(_set("bbb", "2024-01-02"), make_current=False)
    maps = tiny_project.maps
    old = MapRecord("m1", "aaa", "pca", {"method": "pca"}, "arrays/maps/m1.npy", "2024-01-01")
    new = MapRecord("m2", "aaa", "umap", {"method": "umap"}, "arrays/maps/m2.npy", "2024-01-02")
    other = MapRecord("m3", "bbb", "pca", {"method": "pca"}, "arrays/maps/m3.npy", "2024-01-03")
    maps.add(old, make_chosen=True)
    maps.add(new, make_chosen=False)
    maps.add(other, make_chosen=False)
    assert maps.get("m2") == new
    assert maps.get("nope") is None
    assert [m.id for m in maps.all()] == ["m3", "m2", "m1"]
    assert maps.ids() == ["m1", "m2", "m3"]
    assert maps.latest_id("aaa") == "m2"
    assert maps.latest_id("ccc") is None
    assert maps.chosen_id("aaa") == "m1"
    assert maps.chosen_id("bbb") is None
    maps.choose("aaa", "m2")
    assert maps.chosen_id("aaa") == "m2"
    maps.show("bbb", "m3")
    assert (tiny_project.embedding_sets.current_version(), maps.chosen_id("bbb")) == ("bbb", "m3")


def test_rounds__record_in_rank_order_and_unknown_keys_write_nothing(
    tiny_project: Project,
) -> None:
    keys = tiny_project.samples().key.tolist()
    rounds = tiny_project.rounds
    assert (rounds.count(), rounds.ids(), rounds.all()) == (0, [], [])
    args = {"strategy": "random", "config": {"n": 3}, "seed": 7, "embedding_version": "aaa",
            "model_before": None, "user": "ann", "created_at": "2024-01-01"}  # fmt: skip
    first = rounds.add(keys=[keys[2], keys[0], keys[1]], **args)
    second = rounds.add(keys=[keys[1], keys[3]], **args)
    with pytest.raises(UnknownSampleError, match="input:gone.tif"):
        rounds.add(keys=[keys[4], "input:gone.tif"], **args)
    assert rounds.ids() == [first, second]
    assert rounds.count() == 2
    assert rounds.keys(first) == [keys[2], keys[0], keys[1]]
    assert rounds.keys(999) == []
    assert rounds.selected_keys() == set(keys[:4])
    assert rounds.latest_round_of() == {keys[0]: first, keys[1]: second, keys[2]: first,
                                        keys[3]: second}  # fmt: skip
    recorded = rounds.all()[0]
    assert (recorded.strategy, recorded.config, recorded.seed, recorded.user) == (
        "random", {"n": 3}, 7, "ann")  # fmt: skip
    assert (recorded.model_before, recorded.model_after) == (None, None)
    # fresh_only: samples an earlier round holds are refused in the write, nothing written
    with pytest.raises(SamplesTakenError, match=r"2 sample\(s\) already picked by round\(s\) "
                       rf"{first}, {second}") as caught:  # fmt: skip
        rounds.add(keys=[keys[5], keys[0], keys[3]], fresh_only=True, **args)
    assert caught.value.keys == [keys[0], keys[3]]
    assert rounds.count() == 2
    assert rounds.keys(rounds.add(keys=[keys[5]], fresh_only=True, **args)) == [keys[5]]


def test_models__a_model_trained_after_a_rounds_labels_becomes_its_model_after(
    tiny_project: Project,
) -> None:
    tiny_project.embedding_sets.add(_set("aaa", "2024-01-01"), make_current=True)
    keys = tiny_project.samples().key.tolist()
    round_id = tiny_project.rounds.add(
        strategy="random", config={}, seed=1, keys=keys[:2], embedding_version="aaa",
        model_before=None, user="ann", created_at="2024-01-01",
    )  # fmt: skip
    model = ModelRecord("mod1", "logreg", "aaa", ["a", "b"], 2, {"accuracy": 0.5}, "2024-01-02")
    tiny_project.models.add(model, params={"kind": "logreg"}, path="arrays/models/mod1.npy",
                            user="ann")  # fmt: skip
    assert tiny_project.rounds.all()[0].model_after is None  # its samples are not labeled yet
    tiny_project.add_labels(keys[:2], "a", user="ann", source="api")
    later = ModelRecord("mod2", "logreg", "aaa", ["a"], 2, {"accuracy": 1.0}, "2024-01-03")
    tiny_project.models.add(later, params={}, path="arrays/models/mod2.npy", user="ann")
    assert tiny_project.rounds.all()[0].model_after == "mod2"
    assert [m.id for m in tiny_project.models.all()] == ["mod1", "mod2"]
    assert tiny_project.models.all()[0] == model
    assert tiny_project.models.path("mod1") == "arrays/models/mod1.npy"
    assert tiny_project.models.path("nope") is None
    assert round_id == 1


def test_labels_version__moves_with_every_label_event(tiny_project: Project) -> None:
    assert tiny_project.labels_version() == 0
    keys = tiny_project.samples().key.tolist()
    tiny_project.add_labels(keys[:3], "a", user="ann", source="api")
    assert tiny_project.labels_version() == 3
    tiny_project.add_labels(keys[:1], None, user="ann", source="api")
    assert tiny_project.labels_version() == 4


def test_stored_metadata__good_samples_in_order_with_original_names(
    tiny_project: Project,
) -> None:
    samples = tiny_project.samples()
    bad = samples.key.iloc[0]
    tiny_project.mark_bad(bad, "truncated")
    stored = tiny_project.stored_metadata()
    assert [rel for rel, _ in stored] == samples.relpath.iloc[1:].tolist()
    assert all(isinstance(meta, dict) and meta for _, meta in stored)
