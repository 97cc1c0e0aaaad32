"""python -m services.notify: run the notify service (same as `anpr serve notify`)."""

import asyncio

from anpr.runtime.server import serve
from services.notify.server import SPEC

asyncio.run(serve(SPEC))
