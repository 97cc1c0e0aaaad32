"""python -m services.matcher: run the matcher service (same as `anpr serve matcher`)."""

import sys

from services import serve

sys.exit(serve("matcher"))
