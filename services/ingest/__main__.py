"""python -m services.ingest: run the ingest service (same as `anpr serve ingest`)."""

import sys

from services import serve

sys.exit(serve("ingest"))
