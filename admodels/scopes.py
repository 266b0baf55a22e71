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


def declare_statistics(module: nn.Module, *names: str) -> nn.Module:
    """Mark parameters of module as published statistics: the aggregate sets them to the sites' weighted
    mean of their values, with no server step (fedads.runtime.layout). Such parameters are not trained."""
    module.fedads_statistics = tuple(names)
    return module


def statistic_parameters(root: nn.Module) -> set[str]:
    """Full names of every parameter some module beneath root declared a statistic."""
    return {f"{prefix}.{name}" if prefix else name
            for prefix, module in root.named_modules() for name in getattr(module, "fedads_statistics", ())}


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
