"""``python -m kehu …`` is ``kehu …``; spark-submit takes this file as its application (docs/scale.md)."""

from kehu.cli import main

if __name__ == "__main__":
    main()
