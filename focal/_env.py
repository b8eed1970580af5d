"""Process environment Focal needs before Agno is imported anywhere."""

import os

# Focal never phones home: Agno reads this at every Agent/Team/Workflow run.
os.environ["AGNO_TELEMETRY"] = "false"
