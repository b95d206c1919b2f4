"""``python -m workshop_server``: run the server (see :mod:`workshop_server.cli`)."""

from workshop_server.cli import main

if __name__ == "__main__":
    main()
