"""python -m services.firearms: run the firearms service (same as `anpr serve firearms`)."""

import asyncio

from anpr.runtime.server import serve
from services.firearms.server import SPEC

asyncio.run(serve(SPEC))
