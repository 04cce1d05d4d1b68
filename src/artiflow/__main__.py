"""`python -m artiflow ...` is the `artiflow` command."""

from .cli.main import main

main()
