"""python -m services.notify: run the notify service (same as `anpr serve notify`)."""

import sys

from services import serve

sys.exit(serve("notify"))
