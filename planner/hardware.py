"""What a named GPU looks like, and what the planner sizes a run for.

* :func:`load_profiles` reads the catalog ``data/gpus.yaml``: memory, bf16 support, dense tensor TFLOP/s and memory
  bandwidth per card, from the vendors' data sheets.
* :func:`resolve_hardware` turns ``--gpu`` / ``--gpus`` into a :class:`HardwareTarget`, the thing the planner sizes a
  run for: per-GPU memory, the memory budget base, the count, bf16 support, peak TFLOP/s, bandwidth. ``--gpu auto``
  asks :func:`.gpu_probe.probe` about this machine.

Neither torch nor pynvml is imported at module import time: ``ft-tui gpus`` and the TUI stay fast.
"""

from __future__ import annotations

import difflib
import functools
import re
from dataclasses import asdict, dataclass, field
from importlib import resources
from typing import Any

import yaml

from . import gpu_probe
from .errors import InputError
from .gpu_probe import HardwareReport
from .messages import Msg
from .units import GIB, MIB, gib_number

# ----------------------------------------------------------------------------------------------------------------
# Profile catalog
# ----------------------------------------------------------------------------------------------------------------

_PROFILE_FIELDS = ("label", "memory_gib", "compute_capability", "bf16", "bf16_tflops", "fp16_tflops",
                   "bandwidth_gbs", "source")


@dataclass(frozen=True)
class GpuProfile:
    """One card from ``data/gpus.yaml``. TFLOP/s are dense tensor-core peaks with FP32 accumulate."""

    name: str
    label: str
    memory_gib: float
    compute_capability: tuple[int, int]
    bf16: bool
    bf16_tflops: float | None
    fp16_tflops: float
    bandwidth_gbs: float
    source: str
    aliases: tuple[str, ...] = ()
    nvml_names: tuple[str, ...] = ()
    usable_mib: float | None = None

    @property
    def memory_bytes(self) -> int:
        """Total memory in bytes as marketed (marketed GB are GiB for NVIDIA cards)."""
        return int(round(self.memory_gib * GIB))

    @property
    def usable_bytes(self) -> int:
        """What NVML reports as the card's total (ECC and driver reservations taken out), else the marketed size.

        This is the size plans for the card are made against: a "16GB" T4 gives a process 15 GiB, not 16.
        """
        return int(round(self.usable_mib * MIB)) if self.usable_mib else self.memory_bytes

    def peak_tflops(self, bf16: bool | None = None) -> float | None:
        """Dense peak for the training precision: bf16 when the card has it (or ``bf16=True``), else fp16."""
        use_bf16 = self.bf16 if bf16 is None else bf16
        return self.bf16_tflops if use_bf16 else self.fp16_tflops

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict, including ``memory_bytes``."""
        data = asdict(self)
        data.update(compute_capability=list(self.compute_capability), aliases=list(self.aliases),
                    nvml_names=list(self.nvml_names), memory_bytes=self.memory_bytes,
                    usable_bytes=self.usable_bytes)
        return data


def _profile_error(name: str, message: Msg) -> InputError:
    return InputError(message, file="ft_tui/planner/data/gpus.yaml", key=name, hint=Msg("hint_gpu_profile"))


def _parse_profile(name: str, raw: Any) -> GpuProfile:
    if not isinstance(raw, dict):
        raise _profile_error(name, Msg("gpu_profile_not_mapping"))
    missing = [k for k in _PROFILE_FIELDS if k not in raw]
    if missing:
        raise _profile_error(name, Msg("gpu_profile_missing", fields=Msg.join(missing, "list")))
    cc = raw["compute_capability"]
    if not (isinstance(cc, list) and len(cc) == 2):
        raise _profile_error(name, Msg("gpu_profile_capability"))
    for key in ("memory_gib", "fp16_tflops", "bandwidth_gbs"):
        if not isinstance(raw[key], (int, float)) or raw[key] <= 0:
            raise _profile_error(name, Msg("gpu_profile_positive", key=key, value=raw[key]))
    if bool(raw["bf16"]) != (raw["bf16_tflops"] is not None):
        raise _profile_error(name, Msg("gpu_profile_bf16"))
    return GpuProfile(
        name=name, label=str(raw["label"]), memory_gib=float(raw["memory_gib"]),
        compute_capability=(int(cc[0]), int(cc[1])), bf16=bool(raw["bf16"]),
        bf16_tflops=float(raw["bf16_tflops"]) if raw["bf16_tflops"] is not None else None,
        fp16_tflops=float(raw["fp16_tflops"]), bandwidth_gbs=float(raw["bandwidth_gbs"]),
        source=str(raw["source"]), aliases=tuple(str(a) for a in raw.get("aliases") or ()),
        nvml_names=tuple(str(p) for p in raw.get("nvml_names") or ()),
        usable_mib=float(raw["usable_mib"]) if raw.get("usable_mib") else None)


@functools.lru_cache(maxsize=1)
def load_profiles() -> dict[str, GpuProfile]:
    """The GPU catalog, name -> profile, in file order. Read once (package data ``data/gpus.yaml``)."""
    text = resources.files("ft_tui.planner").joinpath("data/gpus.yaml").read_text(encoding="utf-8")
    raw = yaml.safe_load(text) or {}
    return {str(name): _parse_profile(str(name), entry) for name, entry in raw.items()}


def _norm(name: str) -> str:
    """Matching key: case, dashes, underscores, spaces and a leading vendor word do not matter."""
    key = re.sub(r"[\s_\-]+", "", name.lower())
    return re.sub(r"^(nvidia|geforce|tesla)+", "", key)


def _profile_index() -> dict[str, GpuProfile]:
    index: dict[str, GpuProfile] = {}
    for profile in load_profiles().values():
        for spelling in (profile.name, *profile.aliases):
            index.setdefault(_norm(spelling), profile)
    return index


def find_profile(name: str) -> GpuProfile | None:
    """The profile for a name or alias (``"RTX 4090"``, ``"rtx-4090"``, ``"4090"``), or None."""
    return _profile_index().get(_norm(name))


def match_probed_name(device_name: str, total_bytes: int | None = None) -> GpuProfile | None:
    """The catalog card a probed device name (``"NVIDIA A100-SXM4-80GB"``) is, using memory size to break ties;
    None for an unknown card or a MIG instance (a slice has a fraction of the card's compute)."""
    if " MIG " in f" {device_name} ":
        return None
    hits = [p for p in load_profiles().values()
            if any(re.search(pat, device_name, re.IGNORECASE) for pat in p.nvml_names)]
    if not hits:
        return None
    if total_bytes is None:
        return hits[0]
    return min(hits, key=lambda p: abs(p.usable_bytes - total_bytes))


# ----------------------------------------------------------------------------------------------------------------
# resolve_hardware()
# ----------------------------------------------------------------------------------------------------------------


@dataclass
class HardwareTarget:
    """The hardware a plan is sized for. Memory fields are per GPU."""

    name: str
    count: int
    memory_bytes: int | None  # total memory of one GPU
    budget_base_bytes: int | None  # probed: min FREE memory over the GPUs used; otherwise the total
    bf16: bool | None  # None: unknown (a raw size)
    peak_tflops: float | None  # dense tensor peak for the precision the card would train in; None: unknown
    bandwidth_gbs: float | None
    source: str  # "probe" | "profile" | "size" | "none"
    profile: str | None = None  # catalog name when known
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict, with GiB conveniences next to the byte counts."""
        data = asdict(self)
        for key in ("memory", "budget_base"):
            value = data[f"{key}_bytes"]
            data[f"{key}_gib"] = round(value / GIB, 2) if value is not None else None
        return data


_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(gib|gb|g|mib|mb|m|tib|tb|t)?\s*$", re.IGNORECASE)
#: GB, MB and TB are read as binary units, as GPU memory is marketed: a "24GB" RTX 4090 has 24 GiB (24576 MiB, what
#: NVML reports), and the catalog's profiles give marketed sizes in GiB (``GpuProfile.memory_bytes``). Reading
#: ``--gpu 24GB`` as 24 * 10**9 bytes would plan a 24 GB card as a 22.35 GiB one.
_SIZE_UNITS = {"gib": GIB, "g": GIB, "gb": GIB, "mib": MIB, "m": MIB, "mb": MIB,
               "tib": 1024**4, "t": 1024**4, "tb": 1024**4}


def parse_memory_size(text: str) -> int | None:
    """``"24GiB"``, ``"24GB"``, ``"24 g"``, ``"24"`` -> 24 * 2**30 (GPU memory is marketed in binary units: a "24GB"
    card has 24 GiB); ``"40960MB"`` -> 40 GiB. None if not a size."""
    match = _SIZE_RE.match(text)
    if not match:
        return None
    unit = (match.group(2) or "gib").lower()
    return int(round(float(match.group(1)) * _SIZE_UNITS[unit]))


def _unknown_gpu(gpu: str) -> InputError:
    names = [n for p in load_profiles().values() for n in (p.name, *p.aliases)]
    close = difflib.get_close_matches(gpu.lower().replace(" ", "-"), names, n=4, cutoff=0.5)
    suggestion = Msg("gpu_did_you_mean", close=Msg.join(close, "list")) if close else ""
    return InputError(Msg("gpu_unknown", gpu=gpu, suggestion=suggestion), key="--gpu", hint=Msg("hint_gpu_unknown"))


def _check_count(gpus: int | None) -> None:
    if gpus is not None and (isinstance(gpus, bool) or not isinstance(gpus, int) or gpus < 1):
        raise InputError(Msg("gpu_count_whole", gpus=gpus), key="--gpus", hint=Msg("hint_gpu_count"))


def _from_probe(report: HardwareReport, gpus: int | None) -> HardwareTarget:
    found = len(report.gpus)
    if found == 0:
        return HardwareTarget(name="no GPU", count=0, memory_bytes=None, budget_base_bytes=None, bf16=None,
                              peak_tflops=None, bandwidth_gbs=None, source="none",
                              notes=[report.message or "No GPU found."])
    if gpus is not None and gpus > found:
        raise InputError(Msg("gpu_count_too_many", gpus=gpus, found=found), key="--gpus",
                         hint=Msg("hint_gpu_count_other_box"))
    used = report.gpus[: gpus or found]
    totals = [g.total_bytes for g in used if g.total_bytes is not None]
    frees = [g.free_bytes for g in used if g.free_bytes is not None]
    memory = min(totals) if totals else None
    bf16_flags = [g.bf16 for g in used]
    bf16 = None if None in bf16_flags else all(bf16_flags)
    matched = [match_probed_name(g.name, g.total_bytes) for g in used]
    profiles = [p for p in matched if p is not None]
    notes = []
    if len(profiles) < len(matched):
        peak, bandwidth = None, None
        notes.append("this GPU is not in the profile catalog (or is a MIG slice): TFLOP/s and bandwidth unknown.")
    else:
        peaks = [p.peak_tflops(bf16) for p in profiles]
        known = [x for x in peaks if x is not None]
        peak = min(known) if len(known) == len(peaks) else None
        bandwidth = min(p.bandwidth_gbs for p in profiles)
    names = sorted({g.name for g in used})
    return HardwareTarget(
        name=" + ".join(names), count=len(used), memory_bytes=memory,
        budget_base_bytes=min(frees) if frees else memory, bf16=bf16, peak_tflops=peak, bandwidth_gbs=bandwidth,
        source="probe", profile=profiles[0].name if len(set(profiles)) == 1 and profiles[0] else None, notes=notes)


def resolve_hardware(gpu: str = "auto", gpus: int | None = None,
                     report: HardwareReport | None = None) -> HardwareTarget:
    """Turn ``--gpu`` / ``--gpus`` into the target the planner sizes for.

    ``gpu``: ``"auto"`` probes this machine (``report`` reuses an earlier probe); the count is the probed count, or
    ``gpus`` when given (it must not exceed the probed count), and the budget base is the smallest FREE memory over
    the GPUs used. A profile name or alias (``rtx4090``, ``"RTX 4090"``, ``h100``) or a raw size (``24GiB``, ``24GB``
    (the same 24 GiB: GPU memory is marketed in binary units), ``"80 GiB"``, ``24g``) plans for a box you are not on: the budget base is then the card's usable total
    (what NVML reports, e.g. 15 GiB for a "16GB" T4) or the given size, and a
    raw size leaves bf16 and TFLOP/s unknown (None). ``gpus`` defaults to 1 there. With ``auto`` and no GPU the
    target has ``source == "none"`` and count 0. Raises :class:`InputError` for an unknown name or ``gpus < 1``.
    """
    _check_count(gpus)
    text = (gpu or "auto").strip()
    if text.lower() == "auto":
        return _from_probe(report if report is not None else gpu_probe.probe(), gpus)
    profile = find_profile(text)
    if profile is not None:
        return HardwareTarget(
            name=profile.label, count=gpus or 1, memory_bytes=profile.usable_bytes,
            budget_base_bytes=profile.usable_bytes, bf16=profile.bf16, peak_tflops=profile.peak_tflops(),
            bandwidth_gbs=profile.bandwidth_gbs, source="profile", profile=profile.name)
    size = parse_memory_size(text)
    if size is not None:
        if size <= 0:
            raise InputError(Msg("gpu_size_positive", text=text), key="--gpu", hint=Msg("hint_gpu_size"))
        return HardwareTarget(
            name=f"{gib_number(size).removesuffix('.0')} GiB GPU", count=gpus or 1, memory_bytes=size, budget_base_bytes=size, bf16=None,
            peak_tflops=None, bandwidth_gbs=None, source="size",
            notes=["a raw memory size says nothing about bf16 support, TFLOP/s or bandwidth; name the card "
                   "(`ft-tui gpus --profiles`) for time estimates and precision choice."])
    raise _unknown_gpu(text)
