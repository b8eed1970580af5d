"""`python -m focal.local._child PARENT_PID ARGS...` (see the package)."""

from focal.local._child import main

main()
