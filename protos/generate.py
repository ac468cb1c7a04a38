"""Generate the Python code for every .proto under protos/ into clients/python.

The one codegen entry point: `python protos/generate.py [--out DIR]`. Generated files are
checked in; tests/unit/test_codegen.py regenerates into a temp dir and fails on any drift.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import grpc_tools
from grpc_tools import protoc

PROTO_ROOT = Path(__file__).resolve().parent
DEFAULT_OUT = PROTO_ROOT.parent / "clients" / "python"
PACKAGES = ("elizaos/v1", "elizaos/host/v1", "elizaos/store/v1")


def _plugin(name: str) -> str:
    """Path of a protoc plugin installed next to this interpreter (mypy-protobuf's)."""
    found = shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        raise SystemExit(f"{name} not found next to {sys.executable}; pip install mypy-protobuf")
    return found


def generate(out: Path) -> list[Path]:
    """Run protoc for all packages into `out`; return the files written."""
    include = Path(grpc_tools.__file__).parent / "_proto"
    protos = sorted(str(p.relative_to(PROTO_ROOT)) for pkg in PACKAGES for p in (PROTO_ROOT / pkg).glob("*.proto"))
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"-I{include}",
        f"--plugin=protoc-gen-mypy={_plugin('protoc-gen-mypy')}",
        f"--plugin=protoc-gen-mypy_grpc={_plugin('protoc-gen-mypy_grpc')}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        f"--mypy_out={out}",
        f"--mypy_grpc_out={out}",
        *protos,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    written: list[Path] = []
    for pkg in PACKAGES:
        # Package markers so the generated modules import as elizaos.v1 / elizaos.host.v1.
        parts = Path(pkg).parts
        for depth in range(1, len(parts) + 1):
            marker = out.joinpath(*parts[:depth], "__init__.py")
            if not marker.exists():
                marker.write_text("")
        written.extend(sorted((out / pkg).glob("*_pb2*.py*")))
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output root (default: clients/python)")
    ns = parser.parse_args()
    ns.out.mkdir(parents=True, exist_ok=True)
    for path in generate(ns.out):
        print(path.relative_to(ns.out))


if __name__ == "__main__":
    main()
