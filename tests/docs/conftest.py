"""The example connector's package is importable in these tests, as it would be once installed."""

from __future__ import annotations

import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]
EXAMPLE_DISTRIBUTION = REPOSITORY / "docs" / "example_connector"

if str(EXAMPLE_DISTRIBUTION) not in sys.path:
    sys.path.insert(0, str(EXAMPLE_DISTRIBUTION))
