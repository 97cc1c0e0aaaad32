"""python -m services.matcher: run the matcher service (same as `anpr serve matcher`)."""

import asyncio

from anpr.runtime.server import serve
from services.matcher.server import SPEC

asyncio.run(serve(SPEC))
