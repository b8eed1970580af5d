"""The alignment workflow's steps, grouped by what they do (installed as focal.workflows.steps)."""
