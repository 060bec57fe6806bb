"""Every Python package folder ships: pyproject lists packages by hand (package-dir)."""

from pathlib import Path

import tomllib

ROOT = Path(__file__).parents[2]
TOP = ("tools", "evals", "agent", "prompts", "store", "web")


def test_every_package_folder_is_listed_in_pyproject():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = set()
    for top in TOP:
        for init in (ROOT / top).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT).parts
            found.add(".".join(("mechanic", *rel)))
    assert found == listed
    assert all(config["package-dir"][f"mechanic.{top}"] == top for top in TOP)


def test_simulator_weights_ship_with_the_package_and_stay_small():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    weights = list((ROOT / "evals" / "weights").glob("*.safetensors"))
    assert weights, "evals/weights holds the trained simulator head"
    assert "weights/*.safetensors" in config["package-data"]["mechanic.evals"]
    assert all(w.stat().st_size < 5_000_000 for w in weights)
