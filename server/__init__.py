"""Switchboard server: a pure conversation core (``server.core``) behind thin I/O edges."""
