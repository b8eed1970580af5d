"""`python -m focal` runs the CLI."""

from focal.cli import main

main()
