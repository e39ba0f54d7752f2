import pytest

from bps_core.device import check_device, plan_device
from bps_core.errors import SettingsError


def _gpus(n):
    return {"cuda_available": lambda: n > 0, "cuda_count": lambda: n}


def test_plan_device__auto_picks_cuda_when_present():
    plan = plan_device("auto", **_gpus(2))
    assert plan.device == "cuda:0"
    assert plan.is_cuda
    assert plan.mixed_precision
    assert plan.pin_memory
    assert plan.non_blocking


def test_plan_device__auto_falls_back_to_cpu_in_float32():
    plan = plan_device("auto", **_gpus(0))
    assert plan.device == "cpu"
    assert not plan.is_cuda
    assert not plan.mixed_precision
    assert not plan.pin_memory


def test_plan_device__cuda_without_a_gpu_says_what_to_choose():
    with pytest.raises(SettingsError, match="no CUDA GPU.*use device auto or cpu"):
        plan_device("cuda", **_gpus(0))


def test_plan_device__names_the_gpus_that_exist():
    assert plan_device(" CUDA:1 ", **_gpus(2)).device == "cuda:1"
    with pytest.raises(SettingsError, match=r"has 2 GPU\(s\) \(cuda:0 to cuda:1\)"):
        plan_device("cuda:2", **_gpus(2))


def test_plan_device__mixed_precision_can_be_switched_off():
    assert not plan_device("cuda", mixed_precision=False, **_gpus(1)).mixed_precision


@pytest.mark.parametrize("bad", ["gpu", "cuda:", "cuda:x", "", "mps"])
def test_check_device__rejects_other_names(bad):
    with pytest.raises(SettingsError, match="is not one of auto, cpu, cuda or cuda:N"):
        check_device(bad)


def test_plan_device__real_probe_on_this_machine_gives_a_usable_device():
    import torch

    plan = plan_device("auto")
    torch.zeros(1, device=plan.device)
    with plan.autocast():
        torch.ones(2, device=plan.device).sum()
