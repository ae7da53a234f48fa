"""Allow ``python -m neurospeech``."""

from neurospeech.cli import main

raise SystemExit(main())
