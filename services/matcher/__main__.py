"""python -m services.matcher: run the matcher service (same as `anpr serve matcher`)."""

import sys

from anpr.runtime.server import main
from services.matcher.server import SPEC

sys.exit(main(SPEC))
