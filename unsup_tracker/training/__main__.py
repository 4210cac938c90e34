"""``python -m unsup_tracker_training`` is ``unsup-tracker-train``."""
import sys

from .cli import main

sys.exit(main())
