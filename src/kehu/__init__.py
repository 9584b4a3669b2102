"""kehu (客户): customer classification and management."""

__version__ = "0.1.0"
