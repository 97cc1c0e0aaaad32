"""python -m services.firearms: run the firearms service (same as `anpr serve firearms`)."""

import sys

from anpr.runtime.server import main
from services.firearms.server import SPEC

sys.exit(main(SPEC))
