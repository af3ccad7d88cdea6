"""The browser page served at `/`: plain HTML, CSS and one ES module (no build step).

It talks to the REST API (`docs/API.md`) and the real-time protocol (`docs/REALTIME.md`) like any other client.
"""
