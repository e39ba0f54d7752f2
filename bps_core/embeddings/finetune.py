"""Fine-tune the self-supervised backbone with a linear head on the labeled images.

Slower than a classifier on frozen embeddings (it trains the network and predicts every image
again), and worth it when the frozen features miss what the labels separate. The backbone is
a copy of the SimCLR checkpoint behind the current embeddings; the head is a linear layer.
Training uses class-balanced cross-entropy, the same physics-respecting augmentations as
SimCLR, a small learning rate for the backbone and a larger one for the head.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from bps_core.device import DevicePlan
from bps_core.embeddings.batches import as_batch, cpu_plan, to_device
from bps_core.embeddings.train import configure_threads
from bps_core.embeddings.transforms import AugmentConfig, augment

_as_batch = as_batch  # one name to read batches by (a test watches which rows are read)

Progress = Callable[[float], None]


@dataclass(frozen=True)
class FinetuneConfig:
    """Settings of a supervised fine-tune: a copy of the backbone plus a linear head.

    The backbone and the head get their own learning rates (``lr_backbone`` small, so the
    self-supervised features are adjusted rather than overwritten); ``augment`` applies the
    training augmentations to each batch; ``seed`` fixes initialisation and batch order.
    """

    epochs: int = 10
    batch_size: int = 64
    lr_backbone: float = 1e-4
    lr_head: float = 1e-2
    weight_decay: float = 1e-4
    augment: bool = True
    seed: int = 0

    def validate(self) -> None:
        """Checks the settings.

        Raises:
            ValueError: Fewer than one epoch or a batch size below 2.
        """
        if self.epochs < 1 or self.batch_size < 2:
            raise ValueError("fine-tuning needs epochs >= 1 and batch_size >= 2")


def _features(backbone: nn.Module, x: torch.Tensor) -> torch.Tensor:
    out: torch.Tensor = backbone(x)
    return torch.flatten(out, 1)


def finetune_predict(
    backbone: nn.Module,
    images: NDArray[np.uint16],
    train_rows: NDArray[np.intp],
    y: NDArray[np.intp],
    n_classes: int,
    predict_rows: NDArray[np.intp],
    cfg: FinetuneConfig = FinetuneConfig(),
    progress: Progress | None = None,
    plan: DevicePlan | None = None,
) -> NDArray[np.float32]:
    """Fine-tunes a copy of ``backbone`` with a linear head, then predicts class probabilities.

    The copy and the head are trained on ``images[train_rows]`` with class codes ``y`` (the
    loss weights classes by inverse frequency); ``backbone`` itself is left untouched.
    ``plan`` (None: the CPU) says where the copy trains and predicts; augmentation stays on
    the CPU and forward passes run under the plan's autocast.

    Returns:
        Softmax probabilities of shape (len(predict_rows), n_classes) for
        ``images[predict_rows]``.
    """
    cfg.validate()
    plan = plan or cpu_plan()
    configure_threads()
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    net = copy.deepcopy(backbone).to(plan.device).train()
    with torch.no_grad():
        dim = _features(net.eval(), to_device(_as_batch(images, train_rows[:1]), plan)).shape[1]
    net.train()
    head = nn.Linear(dim, n_classes).to(plan.device)
    counts = np.bincount(y, minlength=n_classes).astype(np.float32)
    weights = torch.from_numpy(len(y) / (n_classes * np.maximum(counts, 1.0))).to(plan.device)
    loss_fn = nn.CrossEntropyLoss(weight=weights)
    opt = torch.optim.AdamW(
        [{"params": net.parameters(), "lr": cfg.lr_backbone},
         {"params": head.parameters(), "lr": cfg.lr_head}],
        weight_decay=cfg.weight_decay,
    )  # fmt: skip
    rng = np.random.default_rng(cfg.seed)
    steps_per_epoch = max(1, int(np.ceil(len(train_rows) / cfg.batch_size)))
    total = cfg.epochs * steps_per_epoch + max(1, len(predict_rows) // 256)
    done = 0
    targets_all = torch.from_numpy(np.asarray(y, dtype=np.int64)).to(plan.device)
    for _epoch in range(cfg.epochs):
        order = rng.permutation(len(train_rows))
        for start in range(0, len(order), cfg.batch_size):
            pick = order[start : start + cfg.batch_size]
            if len(pick) < 2:  # batch norm needs two samples
                continue
            rows = train_rows[pick]
            # _as_batch reads rows in sorted order. Its own name: reusing ``order`` here made
            # every batch after an epoch's first one re-read the first batch's rows.
            in_batch = np.argsort(rows, kind="stable")
            x = _as_batch(images, rows)
            if cfg.augment:
                x = augment(x, gen, AugmentConfig())
            with plan.autocast():
                logits = head(_features(net, to_device(x, plan)))
            loss = loss_fn(logits.float(), targets_all[pick[in_batch]])
            opt.zero_grad()
            loss.backward()
            opt.step()
            done += 1
            if progress is not None:
                progress(done / total)
    net.eval()
    probs = np.empty((len(predict_rows), n_classes), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(predict_rows), 256):
            idx = np.arange(start, min(start + 256, len(predict_rows)))
            rows = predict_rows[idx]
            order = np.argsort(rows)  # _as_batch reads rows in sorted order
            with plan.autocast():
                logits = head(_features(net, to_device(_as_batch(images, rows), plan)))
            out = torch.softmax(logits.float(), dim=1).cpu().numpy()
            probs[idx[order]] = out
            if progress is not None:
                progress(min(1.0, (done + start // 256 + 1) / total))
    return probs
