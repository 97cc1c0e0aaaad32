"""python -m services.ingest: run the ingest service (same as `anpr serve ingest`)."""

import sys

from anpr.runtime.server import main
from services.ingest.server import SPEC

sys.exit(main(SPEC))
