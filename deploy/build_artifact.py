"""Build the Lambda artifact without Docker: cross-platform wheels of the pinned runtime dependencies,
the `connector` and `prompb` packages, and nothing else.

    python deploy/build_artifact.py build --arch arm64 --out DIR
    python deploy/build_artifact.py zip DIR OUT.zip

`sam build` calls `build` through deploy/Makefile (BuildMethod: makefile); the tests call it directly
for both architectures. Standard library only, plus the pip of the interpreter that runs it.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON_VERSION = "3.13"  # the template's Runtime: python3.13

# Older manylinux tags are listed too because some wheels (protobuf) only ship those; cramjam >= 2.13
# ships only manylinux_2_28 for aarch64, and without that tag pip silently picks an older cramjam.
PLATFORMS = {
    "arm64": ("manylinux_2_28_aarch64", "manylinux2014_aarch64"),
    "x86_64": ("manylinux_2_28_x86_64", "manylinux2014_x86_64"),
}

# botocore ships models for ~440 services (about 30 MB); the connector calls only these. sts stays for
# credential providers that assume roles. The root data files are needed by every client.
BOTOCORE_SERVICES = ("timestream-write", "timestream-query", "sts")

# Where the two first-party packages come from in this repository.
SOURCES = {"connector": ROOT / "connector", "prompb": ROOT / "proto" / "prompb"}

# dist-info files nothing reads at run time (RECORD would also be wrong after stripping).
DIST_INFO_JUNK = ("RECORD", "INSTALLER", "REQUESTED", "direct_url.json")
# Zip entries get this fixed time, so that an unchanged build gives a byte-identical zip (and
# CloudFormation sees no code change).
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def runtime_requirements(pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    """`[project].dependencies` of pyproject.toml, which must all be exact pins."""
    deps = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    for dep in deps:
        if not re.fullmatch(r"[A-Za-z0-9._-]+==[A-Za-z0-9.!+_-]+", dep.replace(" ", "")):
            raise SystemExit(f"runtime dependency {dep!r} in pyproject.toml is not pinned with ==")
    return [dep.replace(" ", "") for dep in deps]


def _name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9._-]+", requirement)
    assert match is not None, requirement
    return re.sub(r"[-_.]+", "-", match.group(0)).lower()


def transitive_constraints(requirements: Iterable[str]) -> list[str]:
    """Pins for the dependencies of the pinned packages, taken from this interpreter's environment.

    Run from the project venv, the artifact then carries the very versions the tests ran with; the
    direct pins come from pyproject.toml and are not repeated. Packages not installed here stay free.
    """
    direct = {_name(r) for r in requirements}
    seen: set[str] = set()
    todo = list(direct)
    pins: list[str] = []
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        if name not in direct:
            pins.append(f"{name}=={dist.version}")
        for req in dist.requires or []:
            if "extra ==" not in req.replace('"', "").replace("'", ""):  # optional extras are not installed
                todo.append(_name(req))
    return sorted(pins)


def build(arch: str, out: Path, python_version: str = PYTHON_VERSION) -> None:
    requirements = runtime_requirements()
    out.mkdir(parents=True, exist_ok=True)
    for child in out.iterdir():  # sam and the tests hand us a directory we own: start clean
        shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
    with tempfile.TemporaryDirectory() as tmp:
        constraints = Path(tmp) / "constraints.txt"
        constraints.write_text("\n".join(transitive_constraints(requirements)) + "\n")
        command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                   "--no-compile", "--only-binary=:all:", "--implementation", "cp",
                   "--python-version", python_version, "--target", str(out), "--constraint", str(constraints)]
        for platform in PLATFORMS[arch]:
            command += ["--platform", platform]
        subprocess.run([*command, *requirements], check=True)
    for package, source in SOURCES.items():
        shutil.copytree(source, out / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyi",
                                                                            "*.proto", "py.typed"))
    strip(out)
    precompile(out, python_version)


def runtime_python(version: str = PYTHON_VERSION) -> str | None:
    """An interpreter of the Lambda runtime's version: ``PYTHON313``, ``python3.13`` on PATH, or one
    pyenv has installed (its shim answers only when that version is selected)."""
    candidates = [os.environ.get("PYTHON313"), shutil.which(f"python{version}"), *_pyenv_pythons(version)]
    for candidate in filter(None, candidates):
        try:
            out = subprocess.run([candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                                 capture_output=True, text=True, timeout=30)
        except OSError:
            continue
        if out.stdout.strip() == version:  # a pyenv shim exists even when that version is not selected
            return candidate
    return None


def _pyenv_pythons(version: str) -> list[str]:
    pyenv = shutil.which("pyenv")
    if pyenv is None:
        return []
    root = subprocess.run([pyenv, "root"], capture_output=True, text=True, timeout=30).stdout.strip()
    return [str(p) for p in sorted(Path(root).glob(f"versions/{version}*/bin/python{version}"))] if root else []


def precompile(out: Path, version: str = PYTHON_VERSION) -> bool:
    """Ship bytecode for the runtime's Python: Lambda's code directory is read-only, so without it
    every cold start compiles every module it imports. Hash-based and unchecked, because the zip
    gives every file the same fixed time. Without an interpreter of that version, sources only."""
    python = runtime_python(version)
    if python is None:
        print(f"build_artifact: no python{version} found (set PYTHON313): the artifact ships sources only, "
              "and Lambda compiles them at every cold start", file=sys.stderr)
        return False
    subprocess.run([python, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash",
                    "-s", str(out), "-p", "/var/task", str(out)], check=True, timeout=600)
    return True


def strip(out: Path) -> None:
    """Remove what the function never loads: other services' models, docs examples, caches, scripts."""
    data = out / "botocore" / "data"
    for entry in data.iterdir():
        if entry.is_dir() and entry.name not in BOTOCORE_SERVICES:
            shutil.rmtree(entry)
    for examples in data.glob("*/*/examples-1.json"):
        examples.unlink()
    # boto3's resource models (s3, ec2, ...): timestream has none, and boto3.client() never reads them.
    shutil.rmtree(out / "boto3" / "data", ignore_errors=True)
    shutil.rmtree(out / "boto3" / "examples", ignore_errors=True)
    shutil.rmtree(out / "bin", ignore_errors=True)  # console scripts (jp.py) with a build-host shebang
    for path in sorted(out.rglob("*"), reverse=True):
        if path.name == "__pycache__" and path.is_dir():
            shutil.rmtree(path)
        elif path.suffix in (".pyi", ".pyc") or (path.parent.suffix == ".dist-info" and path.name in DIST_INFO_JUNK):
            path.unlink()


def make_zip(source: Path, target: Path) -> int:
    """A deterministic zip of `source` (sorted entries, fixed times, normalised modes); returns its size."""
    target.parent.mkdir(parents=True, exist_ok=True)
    files = sorted(p for p in source.rglob("*") if p.is_file())
    tmp = target.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for path in files:
            info = zipfile.ZipInfo(path.relative_to(source).as_posix(), date_time=ZIP_EPOCH)
            executable = path.stat().st_mode & stat.S_IXUSR
            info.external_attr = ((0o100755 if executable else 0o100644) & 0xFFFF) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes(), compresslevel=9)
    os.replace(tmp, target)
    return target.stat().st_size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    build_cmd = commands.add_parser("build", help="install the artifact into a directory")
    build_cmd.add_argument("--arch", choices=sorted(PLATFORMS), default="arm64")
    build_cmd.add_argument("--python-version", default=PYTHON_VERSION)
    build_cmd.add_argument("--out", type=Path, required=True)
    zip_cmd = commands.add_parser("zip", help="zip a built artifact directory")
    zip_cmd.add_argument("source", type=Path)
    zip_cmd.add_argument("target", type=Path)
    args = parser.parse_args(argv)
    if args.command == "build":
        build(args.arch, args.out.resolve(), args.python_version)
    else:
        size = make_zip(args.source, args.target)
        print(f"{args.target}: {size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
