"""Regenerate the Python code for the contracts in protos/ into anpr/v1/.

python -m anpr.codegen            # writes into the repository
python -m anpr.codegen --out DIR  # writes into DIR (used by the drift test)
"""

from __future__ import annotations

import argparse
import os
import sys
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"


def proto_files() -> list[str]:
    return sorted(str(p.relative_to(PROTOS)) for p in (PROTOS / "anpr" / "v1").glob("*.proto"))


def generate(out: Path) -> None:
    wkt = resources.files("grpc_tools") / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-I{PROTOS}",
        f"-I{wkt}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        *proto_files(),
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    init = out / "anpr" / "v1" / "__init__.py"
    init.write_text('"""Generated from protos/anpr/v1 by `python -m anpr.codegen`. Do not edit."""\n')
    os.utime(init.parent)  # the folder is now newer than the contracts (a before-stop check reads this)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT, help="output root (default: the repository)")
    args = parser.parse_args(argv)
    (args.out / "anpr" / "v1").mkdir(parents=True, exist_ok=True)
    generate(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
