"""`python -m boundcheck.drift` is not the command: it says to use `boundcheck drift`."""

import sys

sys.exit("use `boundcheck drift`")
