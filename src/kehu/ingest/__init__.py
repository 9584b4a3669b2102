"""Import: customers, orders and their lines from CSV/XLSX/Parquet exports (generic, CDNOW, Taobao, Shopify)."""

from kehu.ingest.formats import FORMATS, Format, get_format
from kehu.ingest.load import Counts
from kehu.ingest.pipeline import ImportReport, import_file, parse_maps

__all__ = ["FORMATS", "Counts", "Format", "ImportReport", "get_format", "import_file", "parse_maps"]
