"""probe() against a fake NVML: counts, CUDA_VISIBLE_DEVICES, UUIDs, MIG, other processes, failures."""

from __future__ import annotations

import json
import os

import pytest
from ft_tui.planner import gpu_probe
from ft_tui.planner.gpu_probe import probe, sample_gpu_stats


def test_zero_gpus(fake):
    nvml = fake.Nvml([])
    report = probe(nvml)
    assert report.source == "nvml"
    assert report.gpus == []
    assert "No NVIDIA GPU" in report.message
    assert nvml.calls == ["init", "shutdown"]


def test_one_gpu_all_fields(fake):
    nvml = fake.Nvml([fake.gpu(0, total=24 * fake.GIB, used=3 * fake.GIB)])
    report = probe(nvml)
    assert report.source == "nvml"
    assert report.driver_version == "550.54.15"
    assert report.cuda_version == "12.4"
    (g,) = report.gpus
    assert g.index == 0
    assert g.name == "NVIDIA GeForce RTX 4090"
    assert g.uuid == "GPU-00000000-aaaa-bbbb-cccc-000000000000"  # bytes from NVML decoded
    assert (g.total_bytes, g.used_bytes, g.free_bytes) == (24 * fake.GIB, 3 * fake.GIB, 21 * fake.GIB)
    assert g.compute_capability == (8, 9) and g.bf16 is True
    assert (g.utilization_pct, g.temperature_c) == (7, 41)
    assert g.power_w == pytest.approx(80.0) and g.power_limit_w == pytest.approx(450.0)
    assert g.other_process_bytes == 0 and g.is_mig is False
    data = json.loads(json.dumps(report.to_dict()))
    assert data["gpus"][0]["compute_capability"] == [8, 9]
    assert set(data) >= {"source", "driver_version", "cuda_version", "gpus", "message"}


def test_eight_gpus_in_pci_order(fake):
    gpus = [fake.gpu(i) for i in range(8)]
    nvml = fake.Nvml(list(reversed(gpus)))  # NVML hands them out in reverse bus order
    report = probe(nvml)
    assert [g.index for g in report.gpus] == list(range(8))
    assert [g.uuid for g in report.gpus] == [g.uuid for g in gpus]
    assert [g.nvml_index for g in report.gpus] == list(range(7, -1, -1))
    assert report.message == "8 GPUs visible via nvml."


def test_visible_devices_subset_reorders_and_reindexes(fake, monkeypatch):
    gpus = [fake.gpu(i, total=(10 + i) * fake.GIB) for i in range(4)]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,1")
    report = probe(fake.Nvml(gpus))
    assert [g.index for g in report.gpus] == [0, 1]
    assert [g.total_bytes for g in report.gpus] == [13 * fake.GIB, 11 * fake.GIB]


@pytest.mark.parametrize("value", ["", "-1", "NoDevFiles", " "])
def test_visible_devices_none(fake, monkeypatch, value):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", value)
    report = probe(fake.Nvml([fake.gpu(0), fake.gpu(1)]))
    assert report.gpus == []
    assert "hides all 2" in report.message


def test_visible_devices_stops_at_invalid_entry(fake, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1,7,0")  # 7 does not exist: CUDA ignores it and what follows
    report = probe(fake.Nvml([fake.gpu(i) for i in range(3)]))
    assert [g.uuid for g in report.gpus] == [fake.gpu(1).uuid]
    assert any("'7'" in n for n in report.notes)


def test_visible_devices_duplicate_hides_all(fake, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,0")
    report = probe(fake.Nvml([fake.gpu(i) for i in range(3)]))
    assert report.gpus == []


def test_visible_devices_by_uuid_and_prefix(fake, monkeypatch):
    gpus = [fake.gpu(i, uuid=u) for i, u in enumerate(
        ["GPU-1111aaaa-0000", "GPU-2222bbbb-0000", "GPU-2222cccc-0000"])]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-2222c,GPU-1111aaaa-0000")
    report = probe(fake.Nvml(gpus))
    assert [g.uuid for g in report.gpus] == ["GPU-2222cccc-0000", "GPU-1111aaaa-0000"]
    # an ambiguous prefix names no device, so nothing is visible
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-2222")
    assert probe(fake.Nvml(gpus)).gpus == []


def test_mig_instance_reports_its_own_memory(fake, monkeypatch):
    migs = [fake.Gpu(name="NVIDIA A100-SXM4-40GB MIG 3g.20gb", uuid="MIG-aaaa", total=20 * fake.GIB,
                     used=0, failing={"nvmlDeviceGetUtilizationRates", "nvmlDeviceGetCudaComputeCapability"}),
            fake.Gpu(name="NVIDIA A100-SXM4-40GB MIG 3g.20gb", uuid="MIG-bbbb", total=20 * fake.GIB, used=0)]
    parent = fake.gpu(0, name="NVIDIA A100-SXM4-40GB", total=40 * fake.GIB, cc=(8, 0), migs=migs,
                      mig_enabled=True)
    plain = fake.gpu(1, name="NVIDIA A100-SXM4-40GB", total=40 * fake.GIB, cc=(8, 0))

    report = probe(fake.Nvml([parent, plain]))  # no CUDA_VISIBLE_DEVICES: MIG instances replace their parent
    assert [(g.uuid, g.is_mig) for g in report.gpus] == [("MIG-aaaa", True), ("MIG-bbbb", True),
                                                         (plain.uuid, False)]
    first = report.gpus[0]
    assert first.total_bytes == 20 * fake.GIB
    assert first.compute_capability == (8, 0)  # taken from the parent when the instance does not answer
    assert first.utilization_pct is None and first.power_w is None
    assert any("MIG" in n for n in report.notes)

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "MIG-bbbb")
    (only,) = probe(fake.Nvml([parent, plain])).gpus
    assert (only.index, only.uuid, only.total_bytes) == (0, "MIG-bbbb", 20 * fake.GIB)


def test_mig_enabled_without_instances_is_unusable(fake):
    parent = fake.gpu(0, name="NVIDIA H100 80GB HBM3", cc=(9, 0), mig_enabled=True)
    report = probe(fake.Nvml([parent, fake.gpu(1)]))
    assert [g.uuid for g in report.gpus] == [fake.gpu(1).uuid]
    assert "MIG mode is on" in probe(fake.Nvml([parent])).message


def test_other_process_memory(fake):
    me = os.getpid()
    g = fake.gpu(0, used=9 * fake.GIB, procs=[(me, 1 * fake.GIB), (4242, 6 * fake.GIB), (4343, None)])
    (info,) = probe(fake.Nvml([g])).gpus
    assert info.other_process_bytes == 6 * fake.GIB  # our own context and unknown amounts are left out


def test_failing_fields_become_none(fake):
    fields = {"nvmlDeviceGetName", "nvmlDeviceGetMemoryInfo", "nvmlDeviceGetCudaComputeCapability",
              "nvmlDeviceGetUtilizationRates", "nvmlDeviceGetTemperature", "nvmlDeviceGetPowerUsage",
              "nvmlDeviceGetEnforcedPowerLimit", "nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetPciInfo",
              "nvmlDeviceGetUUID"}
    (info,) = probe(fake.Nvml([fake.gpu(0, failing=fields)])).gpus
    assert info.name == "unknown NVIDIA GPU"
    for attr in ("uuid", "total_bytes", "free_bytes", "used_bytes", "other_process_bytes", "compute_capability",
                 "bf16", "utilization_pct", "temperature_c", "power_w", "power_limit_w"):
        assert getattr(info, attr) is None, attr


def test_library_missing_gives_plain_message(fake):
    nvml = fake.Nvml([fake.gpu(0)], init_error=fake.LibraryNotFound)
    report = probe(nvml)
    assert report.source == "none" and report.gpus == []
    assert report.message.startswith("No NVIDIA GPU found (NVML library not available")


def test_mixed_models_note_about_device_order(fake, monkeypatch):
    gpus = [fake.gpu(0), fake.gpu(1, name="NVIDIA GeForce RTX 3090", cc=(8, 6))]
    assert any("CUDA_DEVICE_ORDER" in n for n in probe(fake.Nvml(gpus)).notes)
    monkeypatch.setenv("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    assert not any("CUDA_DEVICE_ORDER" in n for n in probe(fake.Nvml(gpus)).notes)


def test_real_pynvml_without_driver_does_not_crash():
    """This machine has nvidia-ml-py but no driver: the real module raises NVMLError_LibraryNotFound."""
    report = probe()
    if report.gpus:
        pytest.skip("a GPU is present on this machine")
    assert report.source == "none" and "No NVIDIA GPU found" in report.message


def test_sample_gpu_stats(fake):
    nvml = fake.Nvml([fake.gpu(0, used=5 * fake.GIB), fake.gpu(1, failing={"nvmlDeviceGetPowerUsage"})])
    stats = sample_gpu_stats(nvml=nvml)
    assert [s["nvml_index"] for s in stats] == [0, 1]
    assert stats[0]["used_bytes"] == 5 * fake.GIB and stats[0]["power_w"] == pytest.approx(80.0)
    assert stats[1]["power_w"] is None
    assert [s["nvml_index"] for s in sample_gpu_stats([1, 9], nvml=nvml)] == [1]
    assert nvml.calls == ["init"]  # initialised once and kept: sampling runs every second
    missing = fake.Nvml([fake.gpu(0)], init_error=fake.LibraryNotFound)
    assert sample_gpu_stats(nvml=missing) == [] and sample_gpu_stats(nvml=missing) == []
    assert missing.calls == ["init"]


def test_torch_fallback_view():
    class Props:
        name, total_memory, major, minor, uuid = "AMD Instinct MI300X", 192 * 2**30, 9, 4, "abcd"

    class Cuda:
        is_available = staticmethod(lambda: True)
        device_count = staticmethod(lambda: 2)
        get_device_properties = staticmethod(lambda i: Props)
        mem_get_info = staticmethod(lambda i: (100 * 2**30, 192 * 2**30))

    class Torch:
        cuda = Cuda
        version = type("V", (), {"cuda": None})

    report = gpu_probe._probe_torch(Torch)
    assert report.source == "torch" and len(report.gpus) == 2
    assert report.gpus[1].free_bytes == 100 * 2**30 and report.gpus[1].bf16 is True
    Cuda.is_available = staticmethod(lambda: False)
    assert gpu_probe._probe_torch(Torch) is None
