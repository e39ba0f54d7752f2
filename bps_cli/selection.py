"""Selection commands: ``select``, ``train`` and ``simulate``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from bps_cli._common import FRACTION, NON_NEGATIVE_INT, POSITIVE_INT, progress_bar, user_text
from bps_core import verbs
from bps_core.verbs import BpsError

if TYPE_CHECKING:
    from bps_cli._common import Commands


def _cmd_select(args: argparse.Namespace) -> int:
    config = (
        verbs.SelectionConfig.from_json(user_text(args.config, "selection config"))
        if args.config
        else None
    )
    if args.n is None and config is None:
        raise BpsError("give the number of samples to select with --n")
    settings = verbs.SelectSettings(
        n=args.n, strategy=args.strategy, config=config, seed=args.seed,
        reinclude_selected=args.reinclude_selected,
        options=verbs.RoundOptions(balance_by=tuple(args.balance_by or ())),
    )  # fmt: skip
    with verbs.Project.open(args.project_dir) as project:
        preview = verbs.select_round(project, settings, user=args.user)
        r = verbs.record_round(project, preview, user=args.user)
    how = r.config.get("strategy", r.strategy)
    drawn = (f" (drawn; --seed {r.seed} --reinclude-selected repeats it)"
             if r.config["round"]["seed_drawn"] else "")  # fmt: skip
    print(f"round {r.id}: {len(r.keys)} samples selected with {how}, seed {r.seed}{drawn}")
    held = r.config["round"]["held_back"]
    if held:
        print(f"  {held} samples picked by earlier rounds were left out "
              "(--reinclude-selected picks from them too)")  # fmt: skip
    for key in r.keys[: args.show]:
        print(f"  {key}")
    if len(r.keys) > args.show:
        print(f"  ... and {len(r.keys) - args.show} more (bps-labeler info lists rounds)")
    return 0


def _fig(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _cmd_train(args: argparse.Namespace) -> int:
    with verbs.Project.open(args.project_dir) as project:
        cfg = verbs.ModelConfig(kind=args.model, finetune_epochs=args.epochs)
        settings = verbs.TrainSettings(model=cfg, group_by=args.group_by)
        with progress_bar("train") as progress:
            m = verbs.train_model(project, settings, progress, user=args.user)
    q = m.metrics
    grouped = f"grouped by {q['grouped_by']}" if q["grouped_by"] else "not grouped"
    print(f"model {m.id} ({m.kind}) on {m.n_labeled} labels, classes: {', '.join(m.classes)}")
    if q.get("warning"):
        print(f"  warning: {q['warning']}")
    if q["n_folds"]:
        print(
            f"  {q['n_folds']}-fold cross-validation ({grouped}): accuracy "
            f"{_fig(q['accuracy'])}, balanced accuracy {_fig(q['balanced_accuracy'])}, "
            f"macro-F1 {_fig(q['macro_f1'])}"
        )
    for cls, pc in q["per_class"].items():
        print(f"  {cls}: F1 {_fig(pc['f1'])}, recall {_fig(pc['recall'])}, "
              f"{pc['support']} labels")  # fmt: skip
    return 0


def _labels(value: float, beyond: float) -> str:
    return "not reached" if value >= beyond else f"{value:.0f}"


def _cmd_simulate(args: argparse.Namespace) -> int:
    settings = verbs.SimulateSettings(
        label_column=args.label_column,
        strategies=tuple(s.strip() for s in args.strategies.split(",") if s.strip()),
        batch=args.batch, rounds=args.rounds, seeds=args.seeds, initial=args.initial,
        test_fraction=args.test_fraction, model=args.model, group_column=args.group_column,
        truth_file=str(args.truth),
    )  # fmt: skip
    cfg = settings.config

    def on_truth(n: int, classes: tuple[str, ...]) -> None:
        print(f"{n} samples with truth, classes: {', '.join(classes)}")

    with verbs.Project.open(args.project_dir) as project, progress_bar("simulate") as bar:
        result = verbs.run_simulation(project, settings, bar, out=args.out, on_truth=on_truth)
    last = result.table[result.table["round"] == cfg.rounds].groupby("strategy", sort=False)
    print(f"after {cfg.rounds} rounds of {cfg.batch} (mean over {cfg.seeds} seeds):")
    for name, g in last:
        print(f"  {name}: accuracy {g.accuracy.mean():.3f}, "
              f"balanced accuracy {g.balanced_accuracy.mean():.3f}")  # fmt: skip
    print(f"labels to 95% of the balanced accuracy of training on the whole pool "
          f"({result.full_pool_balanced_accuracy:.3f}), read off the mean curve over {cfg.seeds} "
          "seeds:")  # fmt: skip
    for strategy, r in result.reach.iterrows():
        low, mid, high = (_labels(r[c], r["beyond"]) for c in ("low", "mean_curve", "high"))
        print(f"  {strategy}: {mid} (90% interval {low} to {high}; "
              f"per seed {r['per_seed']:.0f}, {int(r['never'])} never)")  # fmt: skip
    print(f"wrote {result.curve} and {result.png}")
    return 0


def add_select(sub: Commands) -> None:
    """Registers ``select``."""
    p = sub.add_parser("select", help="select the next samples to label (a selection round)")
    p.add_argument("project_dir", type=Path, metavar="PROJECT_DIR")
    p.add_argument("--strategy", default="default", choices=verbs.STRATEGIES)
    p.add_argument("--n", type=POSITIVE_INT, help="how many samples (default: the config's "
                   "n_samples or proportion_samples)")  # fmt: skip
    p.add_argument("--seed", type=NON_NEGATIVE_INT, default=None,
                   help="default: a fresh seed per round, printed and recorded")  # fmt: skip
    p.add_argument(
        "--reinclude-selected",
        action="store_true",
        help="also pick samples that earlier rounds picked (default: left out)",
    )
    p.add_argument("--balance-by", action="append", metavar="COLUMN",
                   help="equal shares per value of a metadata column ('prediction': the "
                   "model's class); repeatable")  # fmt: skip
    p.add_argument("--config", type=Path, help="a Lightly selection config JSON")
    p.add_argument("--user", default="cli",
                   help="who selects; a blind double labeler's round counts as labeled what "
                   "is done for them, not everyone's labels, and reads no model")  # fmt: skip
    p.add_argument(
        "--show", type=NON_NEGATIVE_INT, default=10, help="print this many selected keys"
    )
    p.set_defaults(func=_cmd_select)


def add_train(sub: Commands) -> None:
    """Registers ``train``."""
    p = sub.add_parser("train", help="train a model on the labels and predict every sample")
    p.add_argument("project_dir", type=Path, metavar="PROJECT_DIR")
    p.add_argument(
        "--model",
        choices=["logreg", "knn", "finetune"],
        default="logreg",
        help="finetune: train the SimCLR backbone with a linear head (slower)",
    )
    p.add_argument(
        "--epochs", type=POSITIVE_INT, default=10, help="finetune: passes over the labels"
    )
    p.add_argument("--group-by", help="metadata column for grouped cross-validation "
                   "(default: well, when present)")  # fmt: skip
    p.add_argument("--user", default="cli")
    p.set_defaults(func=_cmd_train)


def add_simulate(sub: Commands) -> None:
    """Registers ``simulate``."""
    p = sub.add_parser("simulate", help="compare strategies on data with known labels")
    p.add_argument("project_dir", type=Path, metavar="PROJECT_DIR")
    p.add_argument("--truth", type=Path, required=True, help="CSV: filename plus label columns")
    p.add_argument("--label-column", required=True)
    p.add_argument("--group-column", help="biological source for the test split, e.g. well")
    p.add_argument("--strategies", default="default,random,diversity,uncertainty,hybrid")
    p.add_argument("--batch", type=POSITIVE_INT, default=20)
    p.add_argument("--rounds", type=POSITIVE_INT, default=10)
    p.add_argument("--seeds", type=POSITIVE_INT, default=10,
                   help="repeats with other splits and starts; with few test samples of a class, "
                   "a handful of seeds can rank strategies by luck")  # fmt: skip
    p.add_argument("--initial", type=POSITIVE_INT, help="labels to start from (default: one batch)")
    p.add_argument("--test-fraction", type=FRACTION, default=0.25)
    p.add_argument("--model", choices=["logreg", "knn"], default="logreg")
    p.add_argument("--out", type=Path, required=True, help="curve CSV; a PNG is written beside")
    p.set_defaults(func=_cmd_simulate)
