"""What the ``molgen`` subcommands do beyond parsing arguments (``molgen/cli.py``): the layer
above the library that may use every package."""
