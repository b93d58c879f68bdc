"""``python -m sordash``: the ``sordash`` command."""

from sordash import main

raise SystemExit(main())
