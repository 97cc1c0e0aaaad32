"""python -m services.ingest: run the ingest service (same as `anpr serve ingest`)."""

import asyncio

from anpr.runtime.server import serve
from services.ingest.server import SPEC

asyncio.run(serve(SPEC))
