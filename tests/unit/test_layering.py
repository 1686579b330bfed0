"""The import arrows DESIGN.md allows: [__main__ ->] cli -> supervisor -> server -> areas -> {config, _core}.

Every module of the package is parsed (not imported) and each import it makes is checked against the
layer table below. A module may import from a lower layer only; areas never import each other, except
where ALLOWED_LATERAL says so.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

PKG = pathlib.Path(__file__).resolve().parents[2] / "uringasgi"

LAYER = {
    "cli": 5,
    "__init__": 5,
    "__main__": 6,  # `python -m uringasgi`: runs the cli
    "supervisor": 4,
    "server": 3,
    "loop": 2,
    "protocol": 2,
    "routes": 2,
    "static": 2,
    "proxy": 2,
    "ktls": 2,
    "lifespan": 2,
    "config": 1,
    "logs": 1,
    "compat": 1,  # what libraries written for uvicorn look for: imports nothing of ours
    "_core": 0,
    "_build": 0,
}
AREAS = {name for name, layer in LAYER.items() if layer == 2}
ALLOWED_LATERAL: set[tuple[str, str]] = set()


def top(module: str) -> str:
    """The first component below `uringasgi` of a dotted module name."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "uringasgi" else ""


def owner(path: pathlib.Path) -> str:
    rel = path.relative_to(PKG)
    return rel.parts[0].removesuffix(".py")


def is_module(name: str) -> bool:
    return (PKG / name).is_dir() or (PKG / f"{name}.py").exists() or name in LAYER


def imports_of(path: pathlib.Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    pkg = ".".join(("uringasgi", *path.relative_to(PKG).parent.parts))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            found.append(mod)
            if mod == "uringasgi":  # `from uringasgi import x` may name a submodule
                found += [f"uringasgi.{a.name}" for a in node.names if is_module(a.name)]
    return found


def violations() -> list[str]:
    bad = []
    for path in sorted(PKG.rglob("*.py")):
        src = owner(path)
        if src not in LAYER:
            bad.append(f"{path.relative_to(PKG)}: module not in the layer table")
            continue
        for mod in imports_of(path):
            dst = top(mod)
            if not dst or dst == src or dst == "__init__":
                continue
            if dst not in LAYER:
                bad.append(f"{path.relative_to(PKG)} imports {mod}: not in the layer table")
            elif src in AREAS and dst in AREAS:
                if (src, dst) not in ALLOWED_LATERAL:
                    bad.append(f"{path.relative_to(PKG)} imports {mod}: areas never import each other")
            elif LAYER[dst] >= LAYER[src]:
                bad.append(f"{path.relative_to(PKG)} imports {mod}: upward arrow")
    return bad


def test_package_respects_design_layers() -> None:
    found = violations()
    assert found == [], found


@pytest.mark.parametrize(
    ("src", "line", "reason"),
    [
        ("protocol/x.py", "from uringasgi.loop import eventloop", "areas never import each other"),
        ("static/x.py", "import uringasgi.protocol.asgi", "areas never import each other"),
        ("config.py", "from uringasgi import server", "upward"),
        ("loop/x.py", "from uringasgi.cli import main", "upward"),
        ("server.py", "from . import supervisor", "upward"),
    ],
)
def test_checker_catches_forbidden_arrows(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, src: str, line: str, reason: str
) -> None:
    """The checker itself must fail on each kind of forbidden arrow, or the test above proves nothing."""
    fake = tmp_path / "uringasgi"
    target = fake / src
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(line + "\n")
    monkeypatch.setattr(__import__(__name__), "PKG", fake)
    found = violations()
    assert len(found) == 1 and reason in found[0], found
