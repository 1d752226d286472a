"""torch and transformers come from one module, imported when first asked for."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from seqscore.errors import InvalidInputError
from seqscore.models import _torch
from tests.fresh_python import printed

MODELS = Path(__file__).resolve().parents[2] / "seqscore" / "models"


def _imported_modules(path: Path) -> set[str]:
    """The top-level names of every module ``path`` imports, anywhere in it."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def test_only_the_accessor_module_imports_torch_or_transformers():
    importers = sorted(
        path.name
        for path in MODELS.glob("*.py")
        if _imported_modules(path) & {"torch", "transformers"}
    )
    assert importers == ["_torch.py"]


def test_importing_the_adapter_imports_neither():
    code = (
        "import sys, seqscore.models.hf\n"
        "print([m for m in ('torch', 'transformers') if m in sys.modules])"
    )
    assert printed(code) == ["[]"]


def test_the_accessors_give_the_modules_once():
    import torch
    import transformers

    assert _torch.torch() is torch and _torch.torch() is _torch.torch()
    assert _torch.transformers() is transformers
    assert _torch.dynamic_layer_class() is transformers.cache_utils.DynamicLayer


@pytest.fixture
def without(monkeypatch):
    """Make a module unimportable for one test (the accessors' caches
    emptied before and after)."""

    def hide(name):
        monkeypatch.setitem(sys.modules, name, None)  # import raises ImportError
        for accessor in (_torch.torch, _torch.transformers, _torch.dynamic_layer_class):
            accessor.cache_clear()

    yield hide
    monkeypatch.undo()
    for accessor in (_torch.torch, _torch.transformers, _torch.dynamic_layer_class):
        accessor.cache_clear()


def test_without_torch_the_error_names_the_extra(without):
    without("torch")
    with pytest.raises(
        InvalidInputError, match=r"needs torch and transformers.*\[hf\]"
    ):
        _torch.torch()


def test_without_transformers_the_error_names_it_and_no_layer_is_plain(without):
    without("transformers")
    with pytest.raises(InvalidInputError, match=r"needs transformers.*\[hf\]"):
        _torch.transformers()
    assert _torch.dynamic_layer_class() is None
