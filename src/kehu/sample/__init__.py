"""Bundled sample data: the seeded demo merchant (:func:`generate_demo`) and the CDNOW log (``cdnow/``)."""

from __future__ import annotations

from typing import Any

__all__ = [
    "CITIES",
    "CITY_TIERS",
    "CUSTOMER_HEADER",
    "ORDER_HEADER",
    "PRODUCTS",
    "DemoFiles",
    "generate_demo",
]

_HOME = {
    "CITIES": "catalog",
    "CITY_TIERS": "catalog",
    "PRODUCTS": "catalog",
    "CUSTOMER_HEADER": "generate",
    "ORDER_HEADER": "generate",
    "DemoFiles": "generate",
    "generate_demo": "generate",
}


def __getattr__(name: str) -> Any:
    # Lazy, so that `python -m kehu.sample.generate` does not import the module twice.
    if name in _HOME:
        from importlib import import_module

        return getattr(import_module(f"kehu.sample.{_HOME[name]}"), name)
    raise AttributeError(f"module 'kehu.sample' has no attribute {name!r}")
