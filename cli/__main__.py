"""python -m cli: the `anpr` command."""

import sys

from cli.main import main

sys.exit(main())
