"""python -m services.firearms: run the firearms service (same as `anpr serve firearms`)."""

import sys

from services import serve

sys.exit(serve("firearms"))
