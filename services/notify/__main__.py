"""python -m services.notify: run the notify service (same as `anpr serve notify`)."""

import sys

from anpr.runtime.server import main
from services.notify.server import SPEC

sys.exit(main(SPEC))
