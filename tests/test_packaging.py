"""The installed package: one import name, every sub-package declared, a working console script."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run_python(code: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True)


def test_root_folders_import_under_snncompile(tmp_path):
    proc = _run_python(
        "import snncompile.backends, snncompile.simulator, snncompile.energy; print('ok')", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_no_generic_top_level_names_installed(tmp_path):
    code = ("import importlib.util as u; "
            "print([n for n in ('backends', 'simulator', 'energy') if u.find_spec(n)])")
    proc = _run_python(code, tmp_path)  # outside the repo: only what is installed is visible
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_every_package_folder_is_declared():
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    declared = set(cfg["packages"])
    roots = {pkg: ROOT / folder for pkg, folder in cfg["package-dir"].items()}
    found = set()
    for pkg, folder in roots.items():
        for init in folder.rglob("__init__.py"):
            rel = init.parent.relative_to(folder).parts
            found.add(".".join((pkg, *rel)))
    # a folder mapped separately (snncompile.backends) also appears under snncompile/ only if it exists
    assert found <= declared, f"undeclared packages: {sorted(found - declared)}"
    assert declared <= found, f"declared but missing: {sorted(declared - found)}"


def test_console_script_version_and_help():
    exe = Path(sys.executable).parent / "snncompile"
    proc = subprocess.run([str(exe), "--version"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "0.1.0" in proc.stdout
    proc = subprocess.run([str(exe), "--help"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "Usage" in proc.stdout


def test_unknown_command_exits_2():
    exe = Path(sys.executable).parent / "snncompile"
    proc = subprocess.run([str(exe), "no-such-command"], capture_output=True, text=True)
    assert proc.returncode == 2


def test_config_import_does_not_load_torch(tmp_path):
    proc = _run_python("import sys, snncompile.models.config; print('torch' in sys.modules)", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"
