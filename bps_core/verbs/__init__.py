"""Verbs: one function per workflow, the door that pages, the CLI, jobs and bench/ go through.

Each verb takes a ``Project``, a frozen settings object (validated when it is built, so a bad
value fails before any work starts, with a message naming the field) and an optional plain
``progress(fraction)`` callback, and returns a record (a dataclass). Verbs are thin: they call
the core's functions and add no algorithm of their own.

- ``ingest(project, IngestSettings, progress, *, on_listed)`` -> ``IngestReport``
- ``compute_embeddings(project, EmbedConfig, progress, *, on_epoch)`` -> ``EmbeddingSet``
- ``compute_map(project, MapConfig, progress)`` -> ``Map``; ``map_estimate(project,
  MapConfig)`` -> ``MapEstimate`` (its expected time, said before a big map starts)
- ``select_round(project, SelectSettings, progress, *, user)`` -> ``RoundPreview``
- ``record_round(project, RoundPreview, *, user)`` -> ``Round``
- ``train_model(project, TrainSettings, progress, *, user)`` -> ``ModelRecord``
- ``run_simulation(project, SimulateSettings, progress, *, run_id)`` -> ``SimulationRecord``
- ``export(project, ExportSettings, progress)`` -> ``ExportReport``
- ``export_to_output(project, OutputExportSettings, progress)`` -> ``OutputExportRecord``
- ``export_embeddings(project, EmbeddingsExportSettings, progress)`` ->
  ``EmbeddingsExportRecord``
- ``copy(project, CopySettings, progress)`` -> ``CopyReport``
- ``report(project, ReportSettings, progress)`` -> ``ReportRecord`` (per-group class shares)
- ``label_origins(project, *, reviewed_only)`` -> ``LabelOrigins`` (random picks among the
  labels a report uses)
- ``writeback(project, WritebackSettings, progress)`` -> ``WritebackReport``
- ``view_nucleus(project, ViewSettings, progress)`` -> ``NucleusView``
- ``review(project, ReviewSettings, progress, *, user)`` -> ``ReviewRecord`` (accept, fix or
  reject labels); ``review_queue(project, ReviewQueueSettings, *, user)`` -> ``ReviewQueue``;
  ``review_summary(project, progress)`` -> ``ReviewSummary``
- ``prediction_queue(project, PredictionQueueSettings)`` -> ``PredictionQueue``;
  ``accept_predictions(project, AcceptSettings, progress, *, user)`` -> ``AcceptRecord``;
  ``model_disagreements(project, DisagreementSettings)`` -> ``ModelDisagreements``;
  ``confusion_samples(project, ConfusionCellSettings)`` (review a model's predictions)
- ``flags(project, FlagSettings, progress)`` -> ``FlagsReport`` (poor images, duplicates,
  near-duplicates, split leaks, outliers; ``quality_facets`` gives the flags as map columns;
  ``missing_descriptor_count`` the samples still without a shift-tolerant descriptor)
- ``tag_samples(project, TagSettings, progress, *, user)`` -> ``TagAction`` (tags beside the
  class); ``read_keys``, ``tags_table``, ``write_tags_csv``; ``sample_facets(project)`` (what
  samples filter and colour by) with ``FacetFilter`` and ``filtered_keys``
- ``set_double_labeling(project, DoubleLabelingSettings, progress)`` -> ``AssignmentChange``;
  ``clear_double_labeling``, ``agreement_report`` -> ``AgreementReport``, ``disagreements``,
  ``adjudicate`` / ``adjudicate_csv`` (blind double labeling and agreement)
- ``label_issues(project, LabelIssuesSettings, progress)`` -> ``LabelIssuesReport`` (labels
  ranked by how likely they are wrong: cleanlab on a model's out-of-fold predictions)

Pages import nothing of the core but this package, so it also hands out what they read and
show: the reads (``list_embedding_sets``, ``current_map``, ``list_rounds``, ...), the small
choices a user makes (``set_current_version``, ``use_map``), the label queue, the errors they
catch, and helpers such as ``join_uri``. Job state (submit, list, cancel) is not here: the
jobs sit above the verbs; the app reaches them through ``bps_app.jobs``.

Background jobs run the same verbs (``bps_core.jobs.JOB_KINDS``); a job is submitted with its
settings: ``jobs.submit(project, MapConfig(method="pca"), user=...)``. This package never
imports ``bps_core.jobs`` (the jobs sit above the verbs).
"""

from __future__ import annotations

from bps_core.atomic import os_error_reason
from bps_core.composite import ChannelStyle, CompositeStyle, NucleusView, OutlineStyle
from bps_core.device import DEVICE_CHOICES, DevicePlan, plan_device
from bps_core.embeddings.archs import ARCHS
from bps_core.embeddings.compute import METHODS, EmbedConfig
from bps_core.embeddings.store import (
    EmbeddingSet,
    current_version,
    list_embedding_sets,
    load_embedding_set,
    set_current_version,
)
from bps_core.errors import (
    BpsError,
    DamagedArrayError,
    DatasourceError,
    ImageDecodeError,
    MetadataError,
    ProjectDatabaseError,
    ProjectError,
    ReadOnlyProjectError,
    SettingsError,
    StaleLabelError,
    StorageWriteError,
    UnknownSampleError,
)
from bps_core.exports import (
    FORMATS,
    LS_CONFIG,
    LS_IMAGES,
    LS_TASKS,
    ExportError,
    ExportExistsError,
    ExportReport,
    resolve_dest,
)
from bps_core.facets import NONE as FACET_NONE
from bps_core.facets import (
    FacetFilter,
    FacetKind,
    facet_columns,
    facet_values,
    facets_version,
    filter_mask,
    filtered_keys,
    sample_facets,
)
from bps_core.images import IMAGE_EXTENSIONS
from bps_core.labels import import_labels_csv, selected_ids
from bps_core.mapview import (
    DensityGrid,
    GridCells,
    ViewWindow,
    density_overview,
    grid_cells,
    points_in_box,
    points_in_polygon,
    selection_mask,
)
from bps_core.metadata import read_user_file
from bps_core.paths import typed_path
from bps_core.project import create_project, create_project_from_folder, database_errors
from bps_core.project.config import CONFIG_NAME
from bps_core.project.ingest import IngestReport
from bps_core.project.move import MoveReport, move_to_postgresql
from bps_core.project.reviews import (
    REVIEW_STATES,
    VERDICTS,
    ReviewCounts,
    ReviewError,
    StaleReviewError,
    Verdict,
)
from bps_core.project.store import Project, UndoResult
from bps_core.project.tags import MAX_TAG, TagAction, clean_tag
from bps_core.projection import (
    MAP_METHODS,
    Map,
    MapConfig,
    MapEstimate,
    current_map,
    list_maps,
    use_map,
)
from bps_core.quality.flags import FLAG_HELP, FLAG_NAMES, FlagsResult, FlagThresholds
from bps_core.quality.flags import facet_columns as quality_facets
from bps_core.quality.label_issues import LabelIssuesError
from bps_core.queue import LabelQueue, unlabeled_keys
from bps_core.selection.adaptive import expected_error
from bps_core.selection.combine import SelectionConfig
from bps_core.selection.model import MODEL_KINDS, ModelConfig
from bps_core.selection.options import OPERATIONS, RoundOptions
from bps_core.selection.pool import Pool, SelectionError, check_budget
from bps_core.selection.registry import HELP as STRATEGY_HELP
from bps_core.selection.registry import NAMED as STRATEGIES
from bps_core.selection.registry import NEEDS_MODEL, make_strategy
from bps_core.selection.registry import Default as DefaultStrategy
from bps_core.selection.registry import default_choice as default_strategy_choice
from bps_core.selection.registry import resolve as resolve_strategy
from bps_core.selection.rounds import (
    ModelRecord,
    OutOfFold,
    Round,
    RoundPreview,
    learning_curve,
    list_models,
    list_rounds,
    out_of_fold,
    selected_keys,
)
from bps_core.selection.simulate import SIMULATIONS_DIR, labels_to_fraction
from bps_core.selection.strategies import Strategy
from bps_core.storage.access import (
    AccessReport,
    check_access,
    generate_external_id,
    iam_policy,
    policy_json,
    trust_policy,
)
from bps_core.storage.base import DatasourceConfig, join_uri
from bps_core.storage.copy import CopyReport
from bps_core.synthetic import PRESETS, generate_dataset, preset_config
from bps_core.synthetic.config import SynthConfig
from bps_core.transfers import SELECTION_KINDS, CopySelection
from bps_core.verbs.agreement import (
    AgreementReport,
    DoubleLabelingSettings,
    LabelerProgress,
    LabelerView,
    adjudicate,
    adjudicate_csv,
    agreement_report,
    clear_double_labeling,
    disagreements,
    double_labeling,
    labeler_labels,
    labeler_view,
    set_double_labeling,
    write_table_csv,
)
from bps_core.verbs.datasource import IngestSettings, ingest
from bps_core.verbs.embeddings import (
    compute_embeddings,
    compute_map,
    csv_coverage_note,
    map_estimate,
)
from bps_core.verbs.exports import (
    EmbeddingsExportRecord,
    EmbeddingsExportSettings,
    ExportSettings,
    OutputExportRecord,
    OutputExportSettings,
    export,
    export_embeddings,
    export_to_output,
)
from bps_core.verbs.flags import FlagSettings, FlagsReport, flags, missing_descriptor_count
from bps_core.verbs.label_issues import LabelIssuesReport, LabelIssuesSettings, label_issues
from bps_core.verbs.predictions import (
    PREDICTION_ORDERS,
    AcceptRecord,
    AcceptSettings,
    ConfusionCellSettings,
    DisagreementSettings,
    ModelDisagreements,
    PredictionDecision,
    PredictionQueue,
    PredictionQueueSettings,
    StalePredictionError,
    accept_predictions,
    confusion_samples,
    model_disagreements,
    prediction_queue,
)
from bps_core.verbs.results import CLUSTERS as REPORT_CLUSTERS
from bps_core.verbs.results import LABELED as REPORT_LABELED
from bps_core.verbs.results import RANDOM_SHARE_MIN as REPORT_RANDOM_SHARE_MIN
from bps_core.verbs.results import (
    LabelOrigins,
    ReportRecord,
    ReportSettings,
    label_origins,
    report,
)
from bps_core.verbs.reviews import (
    REVIEW_ORDERS,
    ReviewQueue,
    ReviewQueueSettings,
    ReviewRecord,
    ReviewSettings,
    ReviewSummary,
    review,
    review_queue,
    review_summary,
)
from bps_core.verbs.rounds import (
    SelectSettings,
    TrainSettings,
    record_round,
    select_round,
    train_model,
)
from bps_core.verbs.simulation import (
    SIMULATION_MODELS,
    SimulateSettings,
    SimulationRecord,
    run_simulation,
    store_truth_upload,
)
from bps_core.verbs.tags import (
    KeysRead,
    TagSettings,
    read_keys,
    tag_samples,
    tags_table,
    write_tags_csv,
)
from bps_core.verbs.transfers import CopySettings, WritebackSettings, copy, writeback
from bps_core.verbs.views import ViewSettings, view_nucleus
from bps_core.verdicts import VerdictImportReport, import_verdicts_csv
from bps_core.writeback import DEFAULT_TASK, PARTS, WritebackError, WritebackReport

__all__ = [
    "ARCHS", "DEFAULT_TASK", "FORMATS", "MAP_METHODS", "METHODS", "MODEL_KINDS", "NEEDS_MODEL",
    "OPERATIONS", "PARTS", "REPORT_CLUSTERS", "REPORT_LABELED", "SELECTION_KINDS",
    "SIMULATIONS_DIR", "SIMULATION_MODELS",
    "STRATEGIES", "STRATEGY_HELP",
    "BpsError", "DamagedArrayError", "DatasourceError", "ExportError", "ExportExistsError",
    "ImageDecodeError", "MetadataError", "ProjectDatabaseError", "ProjectError",
    "ReadOnlyProjectError", "SelectionError", "SettingsError", "StorageWriteError",
    "StaleLabelError", "UnknownSampleError", "WritebackError",
    "CopyReport", "CopySelection", "CopySettings", "DatasourceConfig", "EmbedConfig",
    "EmbeddingSet", "EmbeddingsExportRecord", "EmbeddingsExportSettings", "ExportReport",
    "ExportSettings", "IngestReport", "IngestSettings", "Map", "MapConfig", "MapEstimate",
    "ModelConfig",
    "ModelRecord", "OutputExportRecord", "OutputExportSettings", "Project", "Round",
    "ReportRecord", "ReportSettings", "RoundOptions", "RoundPreview", "SelectSettings",
    "SelectionConfig", "SimulateSettings",
    "SimulationRecord", "TrainSettings", "WritebackReport", "WritebackSettings",
    "compute_embeddings", "compute_map", "csv_coverage_note", "map_estimate", "copy", "export",
    "export_embeddings",
    "export_to_output", "ingest", "record_round", "report", "run_simulation", "select_round",
    "train_model", "writeback", "view_nucleus", "ViewSettings", "NucleusView", "ChannelStyle",
    "CompositeStyle", "OutlineStyle",
    # reads and helpers front ends need that no verb covers (pages and the CLI import the core
    # only through this package)
    "CONFIG_NAME", "IMAGE_EXTENSIONS", "LS_CONFIG", "LS_IMAGES", "LS_TASKS",
    "PRESETS", "AccessReport", "check_access", "create_project", "create_project_from_folder",
    "MoveReport", "move_to_postgresql",
    "current_map", "current_version", "database_errors", "generate_dataset",
    "generate_external_id", "iam_policy", "import_labels_csv", "join_uri", "LabelQueue",
    "learning_curve", "list_embedding_sets", "list_maps", "list_models", "list_rounds",
    "load_embedding_set", "os_error_reason", "policy_json", "preset_config", "read_user_file",
    "resolve_dest", "typed_path", "default_strategy_choice", "resolve_strategy", "selected_ids",
    "selected_keys", "set_current_version",
    "store_truth_upload", "SynthConfig", "trust_policy", "UndoResult", "unlabeled_keys",
    "use_map",
    # blind double labeling and agreement (bps_core/verbs/agreement.py)
    "AgreementReport", "DoubleLabelingSettings", "LabelerProgress", "LabelerView",
    "adjudicate", "adjudicate_csv", "agreement_report", "clear_double_labeling", "labeler_view",
    "disagreements", "double_labeling", "labeler_labels", "set_double_labeling",
    "write_table_csv",
    # what a peer strategy handed to ``run_simulation(..., factory=...)`` implements and uses
    "DefaultStrategy", "Pool", "Strategy", "check_budget", "make_strategy",
    # the learning suite reads its curves between grid points (bench/bench_learning.py), and
    # logs the model's expected error that ``error_adaptive`` reads
    "labels_to_fraction", "expected_error",
]  # fmt: skip
# the reviewer step (issue 19): verbs, records and the reads a reviewer's screens need
__all__ += ["DEVICE_CHOICES", "DevicePlan", "plan_device"]
__all__ += [
    "REVIEW_ORDERS", "REVIEW_STATES", "VERDICTS", "ReviewCounts", "ReviewError", "ReviewQueue",
    "ReviewQueueSettings", "ReviewRecord", "ReviewSettings", "ReviewSummary",
    "StaleReviewError", "Verdict", "VerdictImportReport", "import_verdicts_csv", "review",
    "review_queue", "review_summary",
]  # fmt: skip
# how many labels a report uses are random picks (the Results page warns when few are)
__all__ += ["REPORT_RANDOM_SHARE_MIN", "LabelOrigins", "label_origins"]
# out-of-fold predictions kept with each model (label-quality work, issue 18)
__all__ += ["OutOfFold", "out_of_fold"]
# label issues: cleanlab on the out-of-fold predictions (issue 18)
__all__ += ["LabelIssuesError", "LabelIssuesReport", "LabelIssuesSettings", "label_issues"]
# reviewing a model's predictions: prediction queue, disagreements, confusion cells (issue 18)
__all__ += [
    "PREDICTION_ORDERS", "AcceptRecord", "AcceptSettings", "ConfusionCellSettings",
    "DisagreementSettings", "ModelDisagreements", "PredictionDecision", "PredictionQueue",
    "PredictionQueueSettings", "StalePredictionError", "accept_predictions",
    "confusion_samples", "model_disagreements", "prediction_queue",
]  # fmt: skip
# quality flags: poor images, duplicates, leaks, outliers (issue 18)
__all__ += [
    "FLAG_HELP", "FLAG_NAMES", "FlagSettings", "FlagThresholds", "FlagsReport", "FlagsResult",
    "flags", "missing_descriptor_count", "quality_facets",
]  # fmt: skip
# tags beside the class and sample facets for filters (issue 18)
__all__ += [
    "FACET_NONE", "MAX_TAG", "FacetFilter", "FacetKind", "KeysRead", "TagAction", "TagSettings",
    "clean_tag", "facet_columns", "facet_values", "facets_version", "filter_mask",
    "filtered_keys", "read_keys", "sample_facets", "tag_samples", "tags_table",
    "write_tags_csv",
]  # fmt: skip
# the map at any size: server-side lasso/box selection, view windows, density overviews
__all__ += ["DensityGrid", "GridCells", "ViewWindow", "density_overview", "grid_cells",
            "points_in_box", "points_in_polygon", "selection_mask"]  # fmt: skip
