"""Parameter scopes (DESIGN §3): every parameter is `global`, `group:<k>` or `private`.

A module declares the scope of everything beneath it by setting `fedads_scope`; the nearest
declaring ancestor wins and undeclared parameters are `global`.
"""
from __future__ import annotations

from torch import nn

GLOBAL = "global"
PRIVATE = "private"


def group_scope(k: int) -> str:
    return f"group:{k}"


def declare_scope(module: nn.Module, scope: str) -> nn.Module:
    module.fedads_scope = scope
    return module


def parameter_scopes(root: nn.Module) -> dict[str, str]:
    """Map every named parameter of root to its scope."""
    scopes: dict[str, str] = {}

    def walk(module: nn.Module, prefix: str, inherited: str) -> None:
        scope = getattr(module, "fedads_scope", inherited)
        for name, param in module.named_parameters(recurse=False):
            scopes[prefix + name] = scope
        for name, child in module.named_children():
            walk(child, f"{prefix}{name}.", scope)

    walk(root, "", GLOBAL)
    return scopes
