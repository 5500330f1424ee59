"""`ft-tui gpus` through the real CLI entry point (this machine: nvidia-ml-py installed, no driver)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ft_tui.planner import gpu_probe, gpus_cli
from ft_tui.tui.cli import main


def _real_nvml_works() -> bool:
    import pynvml

    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return False
    pynvml.nvmlShutdown()
    return True


def test_gpus_human_without_gpu(capsys, monkeypatch, fake):
    missing = fake.Nvml([fake.gpu(0)], init_error=fake.LibraryNotFound)
    monkeypatch.setattr(gpu_probe, "_load_nvml", lambda: missing)
    monkeypatch.setattr(gpu_probe, "_torch_worth_trying", lambda: False)
    assert main(["gpus"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("No NVIDIA GPU found (NVML library not available")
    assert "ft-tui plan --gpu rtx4090" in out


def test_gpus_json_with_real_pynvml(capsys, monkeypatch):
    """On this machine the real pynvml raises NVMLError_LibraryNotFound; on a GPU box the list is not empty."""
    monkeypatch.setattr(gpu_probe, "_torch_worth_trying", lambda: False)
    assert main(["gpus", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)  # exactly one JSON object on stdout
    assert {"source", "driver_version", "cuda_version", "gpus", "message"} <= set(data)
    if _real_nvml_works():
        assert data["source"] == "nvml"
    else:
        assert data["gpus"] == [] and data["source"] == "none"
        assert data["message"].startswith("No NVIDIA GPU found")


def test_gpus_table_with_fake_gpus(capsys, monkeypatch, fake):
    gpus = [fake.gpu(0, used=4 * fake.GIB, procs=[(1, 3 * fake.GIB)]),
            fake.gpu(1, name="NVIDIA A100-SXM4-40GB MIG 3g.20gb", total=20 * fake.GIB, cc=(8, 0))]
    report = gpu_probe.probe(fake.Nvml(gpus))
    monkeypatch.setattr(gpus_cli, "probe", lambda: report)
    assert main(["gpus"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("2 GPUs visible via nvml. (driver 550.54.15, CUDA 12.4)")
    header, row0, row1 = lines[1:4]
    assert header.split()[:2] == ["#", "name"]
    assert "NVIDIA GeForce RTX 4090" in row0 and "4.0 / 24.0" in row0 and "20.0" in row0 and "3.0" in row0
    assert "yes" in row0 and "8.9" in row0
    assert len(row0) == len(row1) or row0.index("yes") == row1.index("yes")  # aligned columns


def test_gpus_profiles(capsys):
    assert main(["gpus", "--profiles"]) == 0
    out = capsys.readouterr().out
    assert "h100-80gb" in out and "989.4" in out and "rtx4090" in out
    assert main(["gpus", "--profiles", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    names = {p["name"] for p in data["profiles"]}
    assert {"t4", "h200", "rtx4090"} <= names
    t4 = next(p for p in data["profiles"] if p["name"] == "t4")
    assert t4["bf16"] is False and t4["memory_bytes"] == 16 * 2**30


def test_installed_console_script_json():
    exe = Path(sys.executable).with_name("ft-tui")
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    done = subprocess.run([str(exe), "gpus", "--json"], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert isinstance(data["gpus"], list)
    if not _real_nvml_works():
        assert data["gpus"] == [] and "No NVIDIA GPU found" in data["message"]
