"""Graph export and rendering of recorded tapes (arriving with the viz issue)."""
