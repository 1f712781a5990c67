"""``python -m p2pcount`` is the ``p2pcount`` command."""

from p2pcount.cli import main

if __name__ == "__main__":
    main()
