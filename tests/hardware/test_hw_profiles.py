"""The GPU profile catalog and resolve_hardware()."""

from __future__ import annotations

import pytest
from ft_tui.planner.errors import InputError
from ft_tui.planner.gpu_probe import HardwareReport, probe
from ft_tui.planner.hardware import (
    find_profile,
    load_profiles,
    match_probed_name,
    parse_memory_size,
    resolve_hardware,
)
from ft_tui.planner.units import GIB


def test_catalog_has_the_cards_and_sane_fields():
    profiles = load_profiles()
    assert len(profiles) >= 20
    for name in ("t4", "v100-16gb", "v100-32gb", "a10", "a10g", "l4", "l40", "l40s", "a100-40gb", "a100-80gb",
                 "h100-80gb", "h100-pcie", "h200", "b200", "rtx3060", "rtx3090", "rtx4090", "rtx5090",
                 "rtx-a6000", "rtx6000-ada"):
        assert name in profiles, name
    for p in profiles.values():
        assert p.label and p.source and p.aliases and p.nvml_names, p.name
        assert p.memory_gib > 0 and p.fp16_tflops > 0 and p.bandwidth_gbs > 0, p.name
        assert p.memory_bytes == int(p.memory_gib * GIB)
        assert p.bf16 == (p.compute_capability >= (8, 0)), p.name
        assert (p.bf16_tflops is not None and p.bf16_tflops > 0) == p.bf16, p.name
        assert any(doc in p.source for doc in ("data sheet", "whitepaper", "specifications")), p.name


def test_vendor_numbers_are_dense():
    p = load_profiles()
    assert p["t4"].bf16 is False and p["t4"].peak_tflops() == 65 and p["t4"].bf16_tflops is None
    assert p["h100-80gb"].bf16_tflops == pytest.approx(989.4, abs=0.5)  # 1,979 on the data sheet is sparse
    assert p["a100-80gb"].bf16_tflops == 312 and p["a100-40gb"].bf16_tflops == 312
    assert p["l4"].bf16_tflops == 121 and p["l40s"].bf16_tflops == pytest.approx(362, abs=0.1)
    assert p["rtx4090"].bf16_tflops == pytest.approx(165.2)
    assert p["v100-16gb"].fp16_tflops == 125
    assert p["h200"].memory_gib == 141 and p["h200"].bandwidth_gbs == 4800


def test_aliases_are_unique_across_profiles():
    seen: dict[str, str] = {}
    for p in load_profiles().values():
        for spelling in (p.name, *p.aliases):
            key = spelling.lower().replace("-", "").replace(" ", "")
            assert seen.setdefault(key, p.name) == p.name, f"{spelling} used by {seen[key]} and {p.name}"


@pytest.mark.parametrize(("text", "expected"), [
    ("rtx4090", "rtx4090"), ("RTX 4090", "rtx4090"), ("rtx-4090", "rtx4090"), ("4090", "rtx4090"),
    ("NVIDIA GeForce RTX 4090", "rtx4090"), ("h100", "h100-80gb"), ("H100_SXM", "h100-80gb"),
    ("a6000", "rtx-a6000"), ("Tesla T4", "t4"), ("A100-80GB", "a100-80gb"),
])
def test_find_profile_names_and_aliases(text, expected):
    assert find_profile(text).name == expected


@pytest.mark.parametrize(("device", "total_gib", "expected"), [
    ("NVIDIA A100-SXM4-80GB", 79.2, "a100-80gb"), ("NVIDIA A100-SXM4-40GB", 39.4, "a100-40gb"),
    ("NVIDIA A100 80GB PCIe", 79.2, "a100-80gb-pcie"), ("NVIDIA H100 80GB HBM3", 79.6, "h100-80gb"),
    ("NVIDIA H100 PCIe", 79.6, "h100-pcie"), ("NVIDIA H100 NVL", 93.0, "h100-nvl"), ("NVIDIA H200", 139.8, "h200"),
    ("Tesla T4", 15.0, "t4"), ("Tesla V100-SXM2-32GB", 31.7, "v100-32gb"), ("NVIDIA A10G", 22.0, "a10g"),
    ("NVIDIA A10", 22.0, "a10"), ("NVIDIA L40S", 44.5, "l40s"), ("NVIDIA L40", 44.5, "l40"),
    ("NVIDIA GeForce RTX 3090", 24.0, "rtx3090"), ("NVIDIA GeForce RTX 3090 Ti", 24.0, "rtx3090ti"),
    ("NVIDIA RTX 6000 Ada Generation", 47.5, "rtx6000-ada"), ("NVIDIA RTX A6000", 47.5, "rtx-a6000"),
])
def test_match_probed_name(device, total_gib, expected):
    assert match_probed_name(device, int(total_gib * GIB)).name == expected


def test_match_probed_name_unknown_and_mig():
    assert match_probed_name("NVIDIA GeForce GTX 1080", 8 * GIB) is None
    assert match_probed_name("NVIDIA A100-SXM4-40GB MIG 1g.5gb", 5 * GIB) is None


def test_resolve_profile():
    t = resolve_hardware("rtx-4090", gpus=2)
    assert (t.source, t.count, t.profile, t.bf16) == ("profile", 2, "rtx4090", True)
    assert t.memory_bytes == t.budget_base_bytes == 24564 * 1024**2  # what NVML reports for a 4090
    assert t.peak_tflops == pytest.approx(165.2) and t.bandwidth_gbs == 1008
    t4 = resolve_hardware("t4")
    assert (t4.count, t4.bf16, t4.peak_tflops) == (1, False, 65)  # fp16 peak for a card without bf16
    assert t.to_dict()["memory_gib"] == 23.99


def test_profiles_plan_against_the_usable_memory():
    # A "16GB" T4 reports 15,360 MiB with ECC on; an "80GB" H100 81,559 MiB. Plans must size against that.
    assert resolve_hardware("t4").budget_base_bytes == 15 * GIB
    assert resolve_hardware("h100-80gb").memory_bytes == 81559 * 1024**2
    for p in load_profiles().values():
        assert p.usable_bytes <= p.memory_bytes, p.name
        assert p.usable_bytes >= 0.9 * p.memory_bytes, p.name


@pytest.mark.parametrize(("text", "size"), [
    ("24GiB", 24 * GIB), ("24GB", 24 * GIB), ("40960MB", 40 * GIB), ("80 GiB", 80 * GIB), ("24g", 24 * GIB), ("24", 24 * GIB),
    ("0.5 TiB", 512 * GIB), ("40960MiB", 40 * GIB),
])
def test_resolve_raw_size(text, size):
    assert parse_memory_size(text) == size
    t = resolve_hardware(text)
    assert (t.source, t.count, t.memory_bytes, t.budget_base_bytes) == ("size", 1, size, size)
    assert t.bf16 is None and t.peak_tflops is None and t.bandwidth_gbs is None
    assert t.notes  # says what is unknown


def test_resolve_unknown_name_suggests():
    with pytest.raises(InputError) as err:
        resolve_hardware("rtx4900")
    text = err.value.render()
    assert "unknown GPU 'rtx4900'" in text and "rtx4090" in text and "ft-tui gpus --profiles" in text
    assert err.value.key == "--gpu"


@pytest.mark.parametrize("bad", [0, -2])
def test_resolve_bad_count(bad):
    with pytest.raises(InputError, match="--gpus"):
        resolve_hardware("a100-80gb", gpus=bad)


def test_resolve_zero_size_rejected():
    with pytest.raises(InputError, match="positive"):
        resolve_hardware("0GiB")


def test_resolve_auto_uses_free_memory_of_gpus_used(fake):
    g0 = fake.gpu(0, name="NVIDIA A100-SXM4-80GB", total=80 * GIB, used=2 * GIB, cc=(8, 0))
    g1 = fake.gpu(1, name="NVIDIA A100-SXM4-80GB", total=80 * GIB, used=30 * GIB, cc=(8, 0))
    report = probe(fake.Nvml([g0, g1]))
    both = resolve_hardware("auto", report=report)
    assert (both.source, both.count, both.profile) == ("probe", 2, "a100-80gb")
    assert both.budget_base_bytes == 50 * GIB and both.memory_bytes == 80 * GIB
    assert both.peak_tflops == 312 and both.bandwidth_gbs == 2039 and both.bf16 is True
    first = resolve_hardware("AUTO", gpus=1, report=report)
    assert first.count == 1 and first.budget_base_bytes == 78 * GIB
    with pytest.raises(InputError, match="more GPUs than"):
        resolve_hardware("auto", gpus=3, report=report)


def test_resolve_auto_unknown_card_and_no_gpu(fake):
    report = probe(fake.Nvml([fake.gpu(0, name="NVIDIA GeForce GTX 1080", total=8 * GIB, cc=(6, 1))]))
    t = resolve_hardware("auto", report=report)
    assert t.bf16 is False and t.peak_tflops is None and t.profile is None and t.notes
    none = resolve_hardware("auto", report=HardwareReport([], "none", message="No NVIDIA GPU found."))
    assert (none.source, none.count, none.memory_bytes) == ("none", 0, None)
