"""A fake NVML module for the hardware probe tests.

It implements the pynvml functions the probe calls, with the same signatures and the same error behaviour: every
failure raises a subclass of ``FakeNvml.NVMLError`` (as pynvml raises ``NVMLError_NotSupported`` etc.).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest

GIB = 1024**3


class NVMLError(Exception):
    """Base class, like ``pynvml.NVMLError``."""


class NVMLError_LibraryNotFound(NVMLError):  # noqa: N801 - pynvml's naming
    pass


class NVMLError_NotSupported(NVMLError):  # noqa: N801
    pass


class NVMLError_NotFound(NVMLError):  # noqa: N801
    pass


class NVMLError_InvalidArgument(NVMLError):  # noqa: N801
    pass


@dataclass
class FakeGpu:
    """One device (physical or MIG instance) with what NVML would report about it."""

    name: str = "NVIDIA GeForce RTX 4090"
    uuid: str = "GPU-00000000-0000-0000-0000-000000000000"
    total: int = 24 * GIB
    used: int = 1 * GIB
    bus_id: str = "00000000:01:00.0"
    cc: tuple[int, int] = (8, 9)
    procs: list[tuple[int, int | None]] = field(default_factory=list)  # (pid, usedGpuMemory)
    util: int = 7
    temp: int = 41
    power_mw: int = 80_000
    limit_mw: int = 450_000
    migs: list[FakeGpu] = field(default_factory=list)
    mig_enabled: bool = False
    failing: set[str] = field(default_factory=set)  # NVML function names that raise NotSupported for this device


class FakeNvml:
    """Stands in for the ``pynvml`` module. ``calls`` records init/shutdown for balance checks."""

    NVMLError = NVMLError
    NVMLError_LibraryNotFound = NVMLError_LibraryNotFound
    NVMLError_NotSupported = NVMLError_NotSupported
    NVML_DEVICE_MIG_ENABLE = 1
    NVML_TEMPERATURE_GPU = 0

    def __init__(self, gpus: list[FakeGpu] | None = None, *, init_error: type[NVMLError] | None = None,
                 driver: str = "550.54.15", cuda: int = 12040):
        self.gpus = list(gpus or [])
        self.init_error = init_error
        self.driver = driver
        self.cuda = cuda
        self.calls: list[str] = []

    # -- lifecycle --------------------------------------------------------------------------------------------
    def nvmlInit(self):  # noqa: N802 - pynvml's naming
        self.calls.append("init")
        if self.init_error is not None:
            raise self.init_error("NVML Shared Library Not Found")

    def nvmlShutdown(self):  # noqa: N802
        self.calls.append("shutdown")

    # -- system -----------------------------------------------------------------------------------------------
    def nvmlSystemGetDriverVersion(self):  # noqa: N802
        return self.driver

    def nvmlSystemGetCudaDriverVersion(self):  # noqa: N802
        return self.cuda

    # -- devices ----------------------------------------------------------------------------------------------
    def nvmlDeviceGetCount(self):  # noqa: N802
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index):  # noqa: N802
        if not 0 <= index < len(self.gpus):
            raise NVMLError_InvalidArgument("Invalid Argument")
        return self.gpus[index]

    def _check(self, gpu: FakeGpu, fn: str) -> FakeGpu:
        if fn in gpu.failing:
            raise NVMLError_NotSupported("Not Supported")
        return gpu

    def nvmlDeviceGetName(self, h):  # noqa: N802
        return self._check(h, "nvmlDeviceGetName").name

    def nvmlDeviceGetUUID(self, h):  # noqa: N802
        return self._check(h, "nvmlDeviceGetUUID").uuid.encode()  # old pynvml versions return bytes

    def nvmlDeviceGetPciInfo(self, h):  # noqa: N802
        return SimpleNamespace(busId=self._check(h, "nvmlDeviceGetPciInfo").bus_id)

    def nvmlDeviceGetMemoryInfo(self, h):  # noqa: N802
        g = self._check(h, "nvmlDeviceGetMemoryInfo")
        return SimpleNamespace(total=g.total, used=g.used, free=g.total - g.used)

    def nvmlDeviceGetCudaComputeCapability(self, h):  # noqa: N802
        return self._check(h, "nvmlDeviceGetCudaComputeCapability").cc

    def nvmlDeviceGetUtilizationRates(self, h):  # noqa: N802
        return SimpleNamespace(gpu=self._check(h, "nvmlDeviceGetUtilizationRates").util, memory=0)

    def nvmlDeviceGetTemperature(self, h, sensor):  # noqa: N802
        return self._check(h, "nvmlDeviceGetTemperature").temp

    def nvmlDeviceGetPowerUsage(self, h):  # noqa: N802
        return self._check(h, "nvmlDeviceGetPowerUsage").power_mw

    def nvmlDeviceGetEnforcedPowerLimit(self, h):  # noqa: N802
        return self._check(h, "nvmlDeviceGetEnforcedPowerLimit").limit_mw

    def nvmlDeviceGetComputeRunningProcesses(self, h):  # noqa: N802
        g = self._check(h, "nvmlDeviceGetComputeRunningProcesses")
        return [SimpleNamespace(pid=pid, usedGpuMemory=mem) for pid, mem in g.procs]

    def nvmlDeviceGetMigMode(self, h):  # noqa: N802
        g = self._check(h, "nvmlDeviceGetMigMode")
        if not g.migs and not g.mig_enabled:
            raise NVMLError_NotSupported("Not Supported")  # consumer cards have no MIG
        mode = 1 if g.mig_enabled else 0
        return [mode, mode]

    def nvmlDeviceGetMaxMigDeviceCount(self, h):  # noqa: N802
        return 7

    def nvmlDeviceGetMigDeviceHandleByIndex(self, h, index):  # noqa: N802
        if index >= len(h.migs):
            raise NVMLError_NotFound("Not Found")
        return h.migs[index]


def gpu(i: int, **kw) -> FakeGpu:
    """A distinct RTX 4090-like device number ``i`` (uuid and bus id derived from ``i``)."""
    kw.setdefault("uuid", f"GPU-{i:08x}-aaaa-bbbb-cccc-{i:012x}")
    kw.setdefault("bus_id", f"00000000:{0x10 + i:02X}:00.0")
    return FakeGpu(**kw)


@pytest.fixture(autouse=True)
def _clean_cuda_env(monkeypatch):
    """Each test starts without CUDA_VISIBLE_DEVICES / CUDA_DEVICE_ORDER from the caller's shell."""
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.delenv("CUDA_DEVICE_ORDER", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture
def fake():
    """The fake NVML kit: ``fake.Nvml([...])``, ``fake.gpu(i, ...)``, ``fake.Gpu(...)`` and the error classes."""
    return SimpleNamespace(Nvml=FakeNvml, Gpu=FakeGpu, gpu=gpu, GIB=GIB, NVMLError=NVMLError,
                           LibraryNotFound=NVMLError_LibraryNotFound, NotSupported=NVMLError_NotSupported)
