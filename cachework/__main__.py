"""``python -m cachework`` is the ``cachework`` command."""

from ._cli import main

main()
