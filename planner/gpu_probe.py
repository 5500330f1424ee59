"""What GPUs this process can use: :func:`probe` asks NVML (``pynvml`` from the ``nvidia-ml-py`` package) about
every GPU this process may use, in the order CUDA numbers them, and returns a :class:`HardwareReport`. Without NVML it
falls back to torch's view, and without a GPU it returns an empty report with a plain-language message. It never
raises for a missing driver. :func:`sample_gpu_stats` is the cheap snapshot live panels poll. What the planner sizes
a run for (profiles, ``--gpu`` / ``--gpus``) is :mod:`.hardware`.

Device numbering. CUDA numbers devices FASTEST_FIRST by default, which NVML cannot reproduce (it depends on CUDA's
own performance heuristic); with ``CUDA_DEVICE_ORDER=PCI_BUS_ID`` CUDA numbers them by PCI bus id, as NVML does. We
report devices in PCI bus id order and the runner launches with ``CUDA_DEVICE_ORDER=PCI_BUS_ID``, so index ``i`` here
is ``cuda:i`` there. On a box whose GPUs are all the same model both orders agree. ``CUDA_VISIBLE_DEVICES`` is
applied the way the CUDA runtime applies it (and ``torch.cuda`` mirrors it): entries are integer indices,
``GPU-<uuid>`` or ``MIG-<uuid>`` (a unique prefix is enough); parsing stops at the first entry that names no device;
a repeated device makes the whole list empty; an empty value, ``-1`` or ``NoDevFiles`` hides every GPU.

Neither torch nor pynvml is imported at module import time: ``ft-tui gpus`` and the TUI stay fast.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
import weakref
from dataclasses import asdict, dataclass, field
from typing import Any

# ----------------------------------------------------------------------------------------------------------------
# Probe results
# ----------------------------------------------------------------------------------------------------------------


@dataclass
class GpuInfo:
    """One GPU (or MIG instance) as this process would see it. Fields NVML could not report are None."""

    index: int  # CUDA numbering for this process (after CUDA_VISIBLE_DEVICES, PCI bus id order)
    name: str
    uuid: str | None
    total_bytes: int | None
    free_bytes: int | None
    used_bytes: int | None
    other_process_bytes: int | None  # memory held by other processes' compute contexts (None: unknown)
    compute_capability: tuple[int, int] | None
    bf16: bool | None  # compute capability >= 8.0
    utilization_pct: int | None = None
    temperature_c: int | None = None
    power_w: float | None = None
    power_limit_w: float | None = None
    is_mig: bool = False
    nvml_index: int | None = None  # NVML's own index of the physical GPU (for sample_gpu_stats)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; the compute capability becomes a ``[major, minor]`` list."""
        data = asdict(self)
        if self.compute_capability is not None:
            data["compute_capability"] = list(self.compute_capability)
        return data


@dataclass
class HardwareReport:
    """What :func:`probe` found."""

    gpus: list[GpuInfo]
    source: str  # "nvml" | "torch" | "none"
    driver_version: str | None = None
    cuda_version: str | None = None  # the highest CUDA version the driver supports, e.g. "12.4"
    message: str = ""
    notes: list[str] = field(default_factory=list)  # caveats worth showing (MIG, device order, ...)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: source, driver_version, cuda_version, gpus, message, notes."""
        return {
            "source": self.source,
            "driver_version": self.driver_version,
            "cuda_version": self.cuda_version,
            "gpus": [g.to_dict() for g in self.gpus],
            "message": self.message,
            "notes": list(self.notes),
        }


# ----------------------------------------------------------------------------------------------------------------
# NVML helpers
# ----------------------------------------------------------------------------------------------------------------


def _load_nvml() -> Any | None:
    """The ``pynvml`` module, or None when nvidia-ml-py is not installed."""
    try:
        import pynvml
    except ImportError:
        return None
    return pynvml


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _query(nvml: Any, fn_name: str, *args: Any) -> Any:
    """Call ``nvml.<fn_name>(*args)``; None when the function is missing or NVML reports an error."""
    fn = getattr(nvml, fn_name, None)
    if fn is None:
        return None
    try:
        return fn(*args)
    except nvml.NVMLError:
        return None


@dataclass
class _Physical:
    """A physical GPU as NVML enumerates it, plus its MIG instances when MIG mode is on."""

    nvml_index: int
    handle: Any
    uuid: str | None
    bus_id: str | None
    migs: list[tuple[Any, str | None]] = field(default_factory=list)  # (handle, uuid) per MIG instance
    mig_enabled: bool = False


def _enumerate_physical(nvml: Any) -> list[_Physical]:
    """All physical GPUs in PCI bus id order (NVML index order where the bus id is unknown)."""
    count = _query(nvml, "nvmlDeviceGetCount") or 0
    devices = []
    for i in range(count):
        handle = _query(nvml, "nvmlDeviceGetHandleByIndex", i)
        if handle is None:
            continue
        uuid = _query(nvml, "nvmlDeviceGetUUID", handle)
        pci = _query(nvml, "nvmlDeviceGetPciInfo", handle)
        bus_id = _text(pci.busId).lower() if pci is not None and getattr(pci, "busId", None) else None
        dev = _Physical(i, handle, _text(uuid) if uuid is not None else None, bus_id)
        mode = _query(nvml, "nvmlDeviceGetMigMode", handle)
        current = mode[0] if isinstance(mode, (list, tuple)) and mode else None
        if current == getattr(nvml, "NVML_DEVICE_MIG_ENABLE", 1):
            dev.mig_enabled = True
            for k in range(_query(nvml, "nvmlDeviceGetMaxMigDeviceCount", handle) or 0):
                mig = _query(nvml, "nvmlDeviceGetMigDeviceHandleByIndex", handle, k)
                if mig is not None:  # unused slots raise NVML_ERROR_NOT_FOUND
                    mig_uuid = _query(nvml, "nvmlDeviceGetUUID", mig)
                    dev.migs.append((mig, _text(mig_uuid) if mig_uuid is not None else None))
        devices.append(dev)
    # Python's sort is stable, so devices without a bus id keep NVML's order at the end.
    return sorted(devices, key=lambda d: (d.bus_id is None, d.bus_id or ""))


@dataclass
class _Visible:
    """One CUDA-visible device: a physical GPU, or one MIG instance of it."""

    physical: _Physical
    handle: Any
    uuid: str | None
    is_mig: bool


def _expand(dev: _Physical) -> list[_Visible]:
    """What CUDA can use of a physical GPU: its MIG instances when MIG mode is on (none if none are configured),
    else the whole GPU."""
    if dev.mig_enabled:
        return [_Visible(dev, h, u, True) for h, u in dev.migs]
    return [_Visible(dev, dev.handle, dev.uuid, False)]


def _leading_int(text: str) -> int | None:
    """Parse an entry as CUDA does (strtoul-like): "1", "+2", "3gpu" -> 1, 2, 3; "-1" -> -1; "abc" -> None."""
    match = re.match(r"[+-]?\d+", text)
    return int(match.group()) if match else None


def _by_uuid_prefix(entry: str, candidates: list[_Visible]) -> _Visible | None:
    hits = [c for c in candidates if c.uuid and c.uuid.lower().startswith(entry.lower())]
    return hits[0] if len(hits) == 1 else None  # no match or an ambiguous prefix names no device


def _resolve_entry(entry: str, physical: list[_Physical], whole: list[_Visible],
                   migs: list[_Visible]) -> list[_Visible] | None:
    """The devices one CUDA_VISIBLE_DEVICES entry names, or None when it names none (CUDA stops parsing there)."""
    if entry.upper().startswith("MIG-"):
        hit = _by_uuid_prefix(entry, migs)
        return [hit] if hit else None
    if entry.upper().startswith("GPU-"):
        hit = _by_uuid_prefix(entry, whole)
        return _expand(hit.physical) if hit else None
    number = _leading_int(entry)
    if number is None or not 0 <= number < len(physical):
        return None
    return _expand(physical[number])


def _select_visible(physical: list[_Physical], cvd: str | None) -> tuple[list[_Visible], list[str]]:
    """Apply CUDA_VISIBLE_DEVICES to the enumerated devices; returns the devices in CUDA order and notes."""
    notes: list[str] = []
    if cvd is None:
        return [v for d in physical for v in _expand(d)], notes
    whole = [_Visible(d, d.handle, d.uuid, False) for d in physical]
    migs = [_Visible(d, h, u, True) for d in physical for h, u in d.migs]
    chosen: list[_Visible] = []
    for raw in cvd.split(","):
        entry = raw.strip()
        found = _resolve_entry(entry, physical, whole, migs)
        if found is None:
            if entry and entry not in ("-1", "NoDevFiles"):
                notes.append(f"CUDA_VISIBLE_DEVICES entry '{entry}' names no device here; CUDA ignores it and "
                             "everything after it.")
            break
        for item in found:
            if any(item.handle is c.handle for c in chosen):
                notes.append(f"CUDA_VISIBLE_DEVICES={cvd!r} names a device twice; CUDA then hides every GPU.")
                return [], notes
            chosen.append(item)
    return chosen, notes


def _memory(nvml: Any, handle: Any) -> tuple[int | None, int | None, int | None]:
    info = _query(nvml, "nvmlDeviceGetMemoryInfo", handle)
    if info is None:
        return None, None, None
    return int(info.total), int(info.free), int(info.used)


def _other_process_bytes(nvml: Any, handle: Any) -> int | None:
    """Memory of compute processes other than this one. NVML reports host pids; inside a container with its own pid
    namespace our pid differs from NVML's, so our own usage may be counted too (it is 0 before CUDA init anyway)."""
    procs = _query(nvml, "nvmlDeviceGetComputeRunningProcesses", handle)
    if procs is None:
        return None
    me = os.getpid()
    total = 0
    for proc in procs:
        used = getattr(proc, "usedGpuMemory", None)
        if getattr(proc, "pid", None) != me and isinstance(used, int) and used >= 0:
            total += used
    return total


def _compute_capability(nvml: Any, vis: _Visible) -> tuple[int, int] | None:
    cc = _query(nvml, "nvmlDeviceGetCudaComputeCapability", vis.handle)
    if cc is None and vis.is_mig:  # some drivers answer only for the parent GPU
        cc = _query(nvml, "nvmlDeviceGetCudaComputeCapability", vis.physical.handle)
    if isinstance(cc, (list, tuple)) and len(cc) == 2:
        return int(cc[0]), int(cc[1])
    return None


def _gpu_info(nvml: Any, index: int, vis: _Visible) -> GpuInfo:
    total, free, used = _memory(nvml, vis.handle)
    cc = _compute_capability(nvml, vis)
    name = _query(nvml, "nvmlDeviceGetName", vis.handle)
    util = _query(nvml, "nvmlDeviceGetUtilizationRates", vis.handle)
    # Temperature and power belong to the physical board, also for a MIG instance.
    temp = _query(nvml, "nvmlDeviceGetTemperature", vis.physical.handle,
                  getattr(nvml, "NVML_TEMPERATURE_GPU", 0))
    power = None if vis.is_mig else _query(nvml, "nvmlDeviceGetPowerUsage", vis.handle)
    limit = None if vis.is_mig else _query(nvml, "nvmlDeviceGetEnforcedPowerLimit", vis.handle)
    return GpuInfo(
        index=index,
        name=_text(name) if name is not None else "unknown NVIDIA GPU",
        uuid=vis.uuid,
        total_bytes=total,
        free_bytes=free,
        used_bytes=used,
        other_process_bytes=_other_process_bytes(nvml, vis.handle),
        compute_capability=cc,
        bf16=None if cc is None else cc >= (8, 0),
        utilization_pct=int(util.gpu) if util is not None else None,
        temperature_c=int(temp) if temp is not None else None,
        power_w=power / 1000.0 if power is not None else None,  # NVML reports milliwatts
        power_limit_w=limit / 1000.0 if limit is not None else None,
        is_mig=vis.is_mig,
        nvml_index=vis.physical.nvml_index,
    )


def _cuda_version(nvml: Any) -> str | None:
    version = _query(nvml, "nvmlSystemGetCudaDriverVersion")  # e.g. 12040 -> "12.4"
    if not isinstance(version, int) or version <= 0:
        return None
    return f"{version // 1000}.{(version % 1000) // 10}"


def _init_failure(exc: Exception) -> str:
    """Plain words for why nvmlInit failed."""
    kind = type(exc).__name__
    if "LibraryNotFound" in kind:
        return "NVML library not available: no NVIDIA driver is installed here"
    if "DriverNotLoaded" in kind:
        return "the NVIDIA driver is installed but not loaded"
    if "NoPermission" in kind:
        return "no permission to query the GPUs through NVML"
    return f"NVML failed to start: {_text(exc) or kind}"


def _probe_nvml(nvml: Any) -> HardwareReport:
    """The NVML view; an empty report with the reason when NVML cannot be initialised (no driver, no library)."""
    try:
        nvml.nvmlInit()
    except nvml.NVMLError as exc:
        return HardwareReport([], "none", message=f"No NVIDIA GPU found ({_init_failure(exc)}).")
    try:
        physical = _enumerate_physical(nvml)
        visible, notes = _select_visible(physical, os.environ.get("CUDA_VISIBLE_DEVICES"))
        gpus = [_gpu_info(nvml, i, v) for i, v in enumerate(visible)]
        driver = _query(nvml, "nvmlSystemGetDriverVersion")
        report = HardwareReport(gpus, "nvml", _text(driver) if driver is not None else None, _cuda_version(nvml),
                                notes=notes)
    finally:
        _query(nvml, "nvmlShutdown")
    report.notes.extend(_caveats(report))
    report.message = _summary(report, len(physical))
    return report


def _caveats(report: HardwareReport) -> list[str]:
    notes = []
    if any(g.is_mig for g in report.gpus):
        notes.append("MIG instances are listed with their own memory; a CUDA process uses one MIG instance, chosen "
                     "with CUDA_VISIBLE_DEVICES=MIG-<uuid>.")
    models = {g.name for g in report.gpus}
    if len(models) > 1 and os.environ.get("CUDA_DEVICE_ORDER") != "PCI_BUS_ID":
        notes.append("GPUs of different models: indices here follow PCI bus order; set CUDA_DEVICE_ORDER=PCI_BUS_ID "
                     "so CUDA numbers them the same way (its default puts the fastest first).")
    return notes


def _summary(report: HardwareReport, n_physical: int) -> str:
    n = len(report.gpus)
    if n:
        return f"{n} GPU{'s' if n != 1 else ''} visible via {report.source}."
    cvd = os.environ.get("CUDA_VISIBLE_DEVICES")
    if n_physical and cvd is not None:
        return f"No GPU visible to this process: CUDA_VISIBLE_DEVICES={cvd!r} hides all {n_physical} GPU(s)."
    if n_physical:
        return (f"No usable GPU: NVML sees {n_physical} GPU(s), but MIG mode is on with no MIG instances "
                "created (see `nvidia-smi mig -lgi`).")
    return "No NVIDIA GPU found (NVML sees no devices)."


# ----------------------------------------------------------------------------------------------------------------
# torch fallback
# ----------------------------------------------------------------------------------------------------------------


def _torch_worth_trying() -> bool:
    """Import torch only when it is installed and could see a GPU: already imported, or a GPU device node exists.
    Importing torch costs seconds, and on a box with no driver it would only tell us what NVML already did."""
    if "torch" in sys.modules:
        return True
    if importlib.util.find_spec("torch") is None:
        return False
    return any(os.path.exists(p) for p in ("/dev/nvidiactl", "/dev/dxg", "/dev/kfd"))


def _probe_torch(torch: Any) -> HardwareReport | None:
    """torch.cuda's view (also ROCm builds); None when it sees no device."""
    try:
        if not torch.cuda.is_available():
            return None
        count = torch.cuda.device_count()
    except Exception:  # a broken CUDA install must not crash a probe  # noqa: BLE001
        return None
    gpus = []
    for i in range(count):
        props = torch.cuda.get_device_properties(i)
        try:
            free, total = torch.cuda.mem_get_info(i)
        except Exception:  # noqa: BLE001
            free, total = None, int(props.total_memory)
        cc = (int(props.major), int(props.minor))
        uuid = getattr(props, "uuid", None)
        gpus.append(GpuInfo(
            index=i, name=str(props.name), uuid=f"GPU-{uuid}" if uuid is not None else None,
            total_bytes=int(total), free_bytes=int(free) if free is not None else None,
            used_bytes=int(total - free) if free is not None else None, other_process_bytes=None,
            compute_capability=cc, bf16=cc >= (8, 0)))
    version = getattr(getattr(torch, "version", None), "cuda", None)
    return HardwareReport(gpus, "torch", None, version,
                          message=f"{len(gpus)} GPU(s) visible via torch (NVML unavailable: no per-process memory, "
                                  "utilization or temperature).")


# ----------------------------------------------------------------------------------------------------------------
# probe()
# ----------------------------------------------------------------------------------------------------------------


def probe(nvml: Any | None = None) -> HardwareReport:
    """Report the GPUs this process may use, in CUDA order (see the module docstring for numbering).

    ``nvml`` is the pynvml module (tests pass a fake); by default ``pynvml`` is imported here. Never raises for a
    missing driver or GPU: the report then has no GPUs, ``source == "none"`` and a plain-language ``message``.
    """
    module = nvml if nvml is not None else _load_nvml()
    if module is None:
        report = HardwareReport([], "none", message="No NVIDIA GPU found (the nvidia-ml-py package is not installed).")
    else:
        report = _probe_nvml(module)
    if report.source == "none" and nvml is None and _torch_worth_trying():
        import torch

        report = _probe_torch(torch) or report
    return report


def sample_gpu_stats(indices: list[int] | None = None, nvml: Any | None = None) -> list[dict[str, Any]]:
    """A cheap snapshot for live panels, one dict per physical GPU: ``nvml_index``, ``name``, ``used_bytes``,
    ``total_bytes``, ``utilization_pct``, ``temperature_c``, ``power_w``. ``indices`` are NVML indices (as in
    :attr:`GpuInfo.nvml_index`); None means all. Empty list without NVML. Takes a few milliseconds per GPU."""
    module = nvml if nvml is not None else _load_nvml()
    if module is None or not _nvml_session(module):
        return []
    count = _query(module, "nvmlDeviceGetCount") or 0
    wanted = range(count) if indices is None else [i for i in indices if 0 <= i < count]
    return [_sample_one(module, i) for i in wanted]


# NVML modules initialised once for sampling: module -> whether nvmlInit succeeded. nvmlInit can take a second
# per GPU without persistence mode, too slow to repeat every second; NVML reference-counts init/shutdown, so the
# session held here does not disturb probe()'s own init/shutdown pair. The driver frees it when the process exits.
_SESSIONS: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()


def _nvml_session(nvml: Any) -> bool:
    if nvml not in _SESSIONS:
        try:
            nvml.nvmlInit()
            _SESSIONS[nvml] = True
        except nvml.NVMLError:
            _SESSIONS[nvml] = False  # no driver now means no driver for the life of this process
    return _SESSIONS[nvml]


def _sample_one(nvml: Any, index: int) -> dict[str, Any]:
    handle = _query(nvml, "nvmlDeviceGetHandleByIndex", index)
    total, _, used = _memory(nvml, handle) if handle is not None else (None, None, None)
    util = _query(nvml, "nvmlDeviceGetUtilizationRates", handle) if handle is not None else None
    temp = _query(nvml, "nvmlDeviceGetTemperature", handle, getattr(nvml, "NVML_TEMPERATURE_GPU", 0))
    power = _query(nvml, "nvmlDeviceGetPowerUsage", handle) if handle is not None else None
    name = _query(nvml, "nvmlDeviceGetName", handle) if handle is not None else None
    return {
        "nvml_index": index,
        "name": _text(name) if name is not None else None,
        "used_bytes": used,
        "total_bytes": total,
        "utilization_pct": int(util.gpu) if util is not None else None,
        "temperature_c": int(temp) if temp is not None else None,
        "power_w": power / 1000.0 if power is not None else None,
    }
