"""``python -m fennec_core.cli``: the ``fennec`` command."""

import sys

from fennec_core.cli import main

sys.exit(main())
