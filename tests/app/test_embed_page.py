"""AppTest: the Embeddings page picks the current set and map, starts map jobs, and says how
jobs ended; stale predictions are never offered as current."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from bps_app import state
from bps_app.safe_text import md
from bps_core import jobs
from bps_core.embeddings.compute import EmbedConfig
from bps_core.embeddings.store import current_version
from bps_core.project import Project
from bps_core.projection import MapConfig, current_map, get_or_compute_map
from tests.helpers import button, save_random_embeddings, wait_for_job

EMBED_PAGE = "pages/2_Embed.py"


def _set_with_map(project: Project, seed: int) -> str:
    emb = save_random_embeddings(project, seed=seed, params={"seed": seed})
    get_or_compute_map(project, MapConfig(method="pca"))
    return emb.version


def test_embed_page__use_this_switches_sets_and_stale_predictions_are_not_current(
    app: AppTest, tiny_project: Project
) -> None:
    from bps_core.selection.rounds import train_model

    old = _set_with_map(tiny_project, seed=0)
    s = tiny_project.samples()
    for particle in ("Fe", "X-ray"):
        keys = s[s.particle_type == particle].key.head(10)
        tiny_project.add_labels(keys, particle, user="ann", source="api")
    train_model(tiny_project)  # its predictions belong to the old set
    new = _set_with_map(tiny_project, seed=1)
    assert current_version(tiny_project) == new

    app.run()
    app.switch_page("pages/3_Explore_and_label.py").run()
    options = set(app.segmented_control(key="map_color_by").options)
    assert "prediction" not in options
    assert "uncertainty" not in options
    app.switch_page("pages/5_Select.py").run()
    assert any(old in w.value and "stale" in w.value for w in app.warning)

    app.switch_page(EMBED_PAGE).run()
    assert any("stale" in w.value for w in app.warning)
    table = next(d.value for d in app.dataframe if "version" in d.value.columns)
    assert table.set_index("version").current.to_dict() == {new: "yes", old: ""}
    app.selectbox(key=f"embed_pick_{new}").set_value(old).run()
    button(app, "Use this set").click().run()
    assert not app.exception
    assert current_version(tiny_project) == old
    assert any(f"{old} is now current" in m.value for m in app.success)
    assert not any("stale" in w.value for w in app.warning)
    app.switch_page("pages/3_Explore_and_label.py").run()
    assert {"prediction", "uncertainty"} <= set(app.segmented_control(key="map_color_by").options)


def test_embed_page__map_form_starts_a_map_job_and_shows_it(
    app: AppTest, tiny_project: Project
) -> None:
    version = _set_with_map(tiny_project, seed=0)
    first = current_map(tiny_project)
    app.run()
    app.switch_page(EMBED_PAGE).run()
    app.selectbox(key="map_method").set_value("umap")
    app.number_input(key="map_neighbors").set_value(7)
    app.number_input(key="map_min_dist").set_value(0.3)
    button(app, "Compute the map").click().run()
    assert not app.exception
    (job,) = jobs.list_jobs(tiny_project, "map")
    # the row holds every setting of the map (MapConfig.to_params), the form's among them
    assert MapConfig.from_params(job.params) == MapConfig(
        method="umap", n_neighbors=7, min_dist=0.3, seed=0
    )
    assert wait_for_job(tiny_project, job.id).state == "succeeded"
    app.run()
    shown = current_map(tiny_project)
    assert shown is not None
    assert shown.embedding_version == version
    assert (shown.config.method, shown.config.n_neighbors, shown.config.min_dist) == (
        "umap",
        7,
        0.3,
    )
    assert any("UMAP map" in m.value and "now shown" in m.value for m in app.success)
    # Back to the first map, from the maps table's control.
    app.selectbox(key=f"embed_map_pick_{shown.id}").set_value(first.id).run()
    button(app, "Show this map").click().run()
    assert current_map(tiny_project).id == first.id


def test_embed_page__failed_job_shows_its_whole_error_once(
    app: AppTest, tiny_project: Project
) -> None:
    missing = tiny_project.folder / "exports" / "no-such-embeddings.csv"  # a readable root
    app.run()
    app.switch_page(EMBED_PAGE).run()
    app.selectbox(key="embed_method").set_value("csv")
    app.text_input(key="embed_csv").input(str(missing))
    app.get("form_submit_button")[0].click().run()
    (job,) = jobs.list_jobs(tiny_project, "embed")
    assert wait_for_job(tiny_project, job.id).state == "failed"
    app.run()
    assert not app.exception
    errors = [e.value for e in app.error]
    assert len(errors) == 1
    assert md(f"{missing} not found") in errors[0]
    assert errors[0].startswith(md("The embed job failed: Lightly embeddings CSV"))
    app.run()
    assert not app.error  # said once, not on every rerun
    # The form kept what was typed while the job ran (it was reset to simclr before: "Start"
    # again then trained SimCLR instead of retrying the import).
    assert app.selectbox(key="embed_method").value == "csv"
    assert app.text_input(key="embed_csv").value == str(missing)


def test_home__says_what_exists_what_is_next_and_colours_labels_by_class(
    app: AppTest, tiny_project: Project
) -> None:
    app.run()
    links = [p.proto.label for p in app.main.get("page_link")]
    assert links == ["Embeddings: compute a set"]
    assert any("No embeddings yet" in w.value for w in app.warning)

    version = _set_with_map(tiny_project, seed=0)
    keys = tiny_project.samples().key.tolist()
    tiny_project.ensure_class("track", color="#AA0000")
    tiny_project.ensure_class("normal", color="#00BB00")
    tiny_project.add_labels(keys[:3], "track", user="u", source="api")
    tiny_project.add_labels(keys[3:10], "normal", user="u", source="api")
    app.run()
    assert not app.exception
    assert any(version in s.value and "pixels" in s.value for s in app.success)
    assert any("PCA map" in s.value for s in app.success)
    links = [p.proto.label for p in app.main.get("page_link")]
    assert links[0] == "Selection rounds: train a model"
    chart = next(c.proto.spec for c in app.get("plotly_chart") if "#AA0000" in c.proto.spec)
    assert "#00BB00" in chart


def test_datasource_page__a_watched_job_that_failed_is_said_in_full_once(
    app: AppTest, tiny_project: Project
) -> None:
    from bps_core.project.jobs import finish_job
    from bps_core.verbs import CopySettings, DatasourceConfig

    dest = DatasourceConfig(id="output", path=str(tiny_project.folder / "out"), purpose="output")
    job_id = jobs.submit(tiny_project, CopySettings(dest), user="ann", spawn=False)
    error = "destination s3://other-bucket/out/ refused the write: " + "x" * 300
    finish_job(tiny_project, job_id, "failed", error=error)
    app.session_state[state.JOBS_WATCHED] = [job_id]
    app.run()
    app.switch_page("pages/1_Datasource.py").run()
    assert not app.exception
    assert [e.value for e in app.error] == [md(f"The copy job failed: {error}")]
    app.run()
    assert not app.error
    assert any(md(error) in w.value for w in app.warning)  # the last-job line stays


def test_embed_page__a_current_set_without_a_map_says_so_and_draws_no_preview(
    app: AppTest, tiny_project: Project
) -> None:
    save_random_embeddings(tiny_project, params={"seed": 0})
    assert current_map(tiny_project) is None
    app.run()
    app.switch_page(EMBED_PAGE).run()
    assert not app.exception  # the preview read a variable only a map had set
    assert any("no map yet" in i.value for i in app.info)
    assert not [c for c in app.get("plotly_chart") if c.proto.id and "preview" in c.proto.id]


def test_embed_page__server_ray_address_goes_into_the_embed_job(
    app: AppTest, tiny_project: Project
) -> None:
    (tiny_project.folder / "server.toml").write_text(
        '[server]\nray_address = "ray://127.0.0.1:9"\n'
    )
    app.run()
    app.switch_page(EMBED_PAGE).run()
    assert any("ray://127.0.0.1:9" in c.value for c in app.caption)  # the page says where
    app.selectbox(key="embed_method").set_value("pixels")
    app.get("form_submit_button")[0].click().run()
    assert not app.exception
    (job,) = jobs.list_jobs(tiny_project, "embed")
    assert EmbedConfig.from_params(job.params).ray_address == "ray://127.0.0.1:9"
    jobs.cancel_job(tiny_project, job.id)  # nothing listens there; the job has nothing to show


def test_embed_page__a_malformed_server_ray_address_is_one_error(
    app: AppTest, tiny_project: Project
) -> None:
    (tiny_project.folder / "server.toml").write_text('[server]\nray_address = "head:10001"\n')
    app.run()
    app.switch_page(EMBED_PAGE).run()
    assert not app.exception
    (error,) = app.error
    assert "server.toml: ray_address 'head:10001': use auto" in error.value


def test_embed_page__device_choice_goes_into_the_embed_job(
    app: AppTest, tiny_project: Project
) -> None:
    app.run()
    app.switch_page(EMBED_PAGE).run()
    assert app.selectbox(key="embed_device").value == "auto"
    app.selectbox(key="embed_method").set_value("pixels")
    app.selectbox(key="embed_device").set_value("cpu")
    app.get("form_submit_button")[0].click().run()
    assert not app.exception
    (job,) = jobs.list_jobs(tiny_project, "embed")
    assert EmbedConfig.from_params(job.params).device == "cpu"
    jobs.cancel_job(tiny_project, job.id)  # the device reached the job; nothing more to see


def test_embed_page__map_form_says_how_long_a_umap_map_takes(
    app: AppTest, tiny_project: Project
) -> None:
    from bps_core.verbs import map_estimate

    _set_with_map(tiny_project, seed=0)
    estimate = map_estimate(tiny_project)
    assert estimate is not None
    app.run()
    app.switch_page(EMBED_PAGE).run()
    assert not app.exception
    said = [c.value for c in app.caption if "on this machine" in c.value]
    assert said == [f"A UMAP map takes {estimate.text()}; PCA is near instant."]
    assert f"{estimate.points:,} points" in said[0]


def test_embed_page__a_partial_csv_by_a_relative_path_is_imported_with_a_warning(
    app: AppTest, tiny_project: Project
) -> None:
    """A CSV of half the samples became current without a word (rounds then picked among those
    alone); a relative path was taken from the server's working folder, not the project's."""
    import numpy as np
    from lightly.utils import io as lightly_io

    samples = tiny_project.samples()
    half = samples.relpath.tolist()[: len(samples) // 2]
    dest = tiny_project.folder / "exports" / "half.csv"
    dest.parent.mkdir(exist_ok=True)
    vecs = np.random.default_rng(0).normal(size=(len(half) + 1, 4))
    lightly_io.save_embeddings(str(dest), vecs, [0] * len(vecs), [*half, "nowhere.tif"])
    app.run()
    app.switch_page(EMBED_PAGE).run()
    app.selectbox(key="embed_method").set_value("csv")
    app.text_input(key="embed_csv").input("exports/half.csv")
    app.get("form_submit_button")[0].click().run()
    assert not app.error
    (job,) = jobs.list_jobs(tiny_project, "embed")
    assert wait_for_job(tiny_project, job.id).state == "succeeded"
    app.run()
    assert any(f"of {len(half)} samples is now current" in s.value for s in app.success)
    said = app.warning[0].value.replace("\\", "")
    missing = len(samples) - len(half)
    assert said.startswith(f"{missing} readable samples of the project have no row in the CSV")
    assert "1 file names in the CSV match no sample" in said


def test_embed_page__epochs_typed_out_of_range_start_no_job(
    app: AppTest, tiny_project: Project
) -> None:
    """The form's epochs box keeps 1000 and refuses it; Streamlit's max_value dropped it and
    Start trained for the last valid count."""
    app.run()
    app.switch_page(EMBED_PAGE).run()
    app.number_input(key="embed_epochs").set_value(1000)
    button(app, "Start").click().run()
    assert not app.exception
    assert md("Epochs (at most): 1,000 is more than 500; enter a number from 1 to 500.") in [
        e.value for e in app.error
    ]
    assert jobs.list_jobs(tiny_project, "embed") == []


def test_embed_page__a_count_or_seed_that_is_not_whole_starts_no_job(
    app: AppTest, tiny_project: Project
) -> None:
    """Integer boxes truncated 30.5 epochs to 30 and seed 3.7 to 3, and started the job."""
    _set_with_map(tiny_project, seed=0)
    app.run()
    app.switch_page(EMBED_PAGE).run()
    app.number_input(key="embed_epochs").set_value(30.5)
    button(app, "Start").click().run()
    assert not app.exception
    assert md("Epochs (at most): 30.5 is not a whole number; enter a whole number from 1 to "
              "500.") in [e.value for e in app.error]  # fmt: skip
    app.number_input(key="map_seed").set_value(3.7)
    button(app, "Compute the map").click().run()
    assert not app.exception
    assert md("Seed: 3.7 is not a whole number; enter a whole number from 0 to 2,147,483,647.") in [
        e.value for e in app.error
    ]
    assert jobs.list_jobs(tiny_project) == []
