"""``python -m cvesweep``: the same command line as the ``cvesweep`` script."""

from cvesweep.cli.main import main

main()
