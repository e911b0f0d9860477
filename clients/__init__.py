"""Switchboard clients: the asyncio Python client library
(``clients.switchboard_client``), the desktop widget (``clients.widget``) and
the generator of the web app's TypeScript declarations (``clients.web``).
The web app itself is served by the server from ``server/static``."""
