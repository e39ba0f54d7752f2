"""Fine-tuning with a linear head: every training row is trained on in every epoch."""

from __future__ import annotations

import numpy as np
import pytest

from bps_core.embeddings import finetune
from bps_core.embeddings.finetune import FinetuneConfig, finetune_predict
from bps_core.embeddings.model import build_backbone


def test_finetune_predict__every_epoch_reads_every_training_row(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    read: list[list[int]] = []
    real = finetune._as_batch

    def spy(images, rows):  # type: ignore[no-untyped-def]
        read.append(sorted(int(r) for r in rows))
        return real(images, rows)

    monkeypatch.setattr(finetune, "_as_batch", spy)
    images = np.random.default_rng(0).integers(0, 4000, (24, 32, 32), dtype=np.uint16)
    train = np.arange(20)
    y = np.array([0, 1] * 10)
    cfg = FinetuneConfig(epochs=2, batch_size=8, augment=False)
    finetune_predict(build_backbone("resnet10"), images, train, y, 2, np.arange(24), cfg)
    train_reads = read[1:-1]  # the first read sizes the head, the last one predicts
    assert len(train_reads) == 6  # 2 epochs x 3 batches (8, 8, 4)
    for epoch in (train_reads[:3], train_reads[3:]):
        assert sorted(r for batch in epoch for r in batch) == list(range(20))
