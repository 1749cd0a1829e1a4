"""``python -m cachework`` is the ``cachework`` command."""

from .cli import main

main()
