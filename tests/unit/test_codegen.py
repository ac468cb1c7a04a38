"""Generated code matches the protos, and the protos pass buf lint (STANDARD)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GENERATED = ROOT / "clients" / "python"


def test_generated_code_is_up_to_date(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, str(ROOT / "protos" / "generate.py"), "--out", str(tmp_path)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    fresh = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*_pb2*.py*"))
    assert fresh, "codegen produced nothing"
    checked_in = sorted(p.relative_to(GENERATED) for p in GENERATED.rglob("*_pb2*.py*"))
    assert fresh == checked_in, "generated files differ from the checked-in set; run `make generate`"
    stale = [str(p) for p in fresh if (tmp_path / p).read_bytes() != (GENERATED / p).read_bytes()]
    assert not stale, f"checked-in generated code is stale; run `make generate`: {stale}"


def _buf() -> str | None:
    local = ROOT / ".tools" / "node_modules" / ".bin" / "buf"
    return str(local) if local.exists() else shutil.which("buf")


def test_protos_pass_buf_lint() -> None:
    buf = _buf()
    if buf is None:
        if os.environ.get("ELIZAOS_REQUIRE_BUF", "1") == "1":
            pytest.fail("buf is not installed; `make test` installs it from npm (@bufbuild/buf)")
        pytest.skip("buf not installed and ELIZAOS_REQUIRE_BUF=0")
    result = subprocess.run([buf, "lint"], cwd=ROOT / "protos", capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
