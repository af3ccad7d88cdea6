"""`talker serve` (the REST API) and `talker keys create|list|revoke`."""

from __future__ import annotations

import argparse
import datetime
import sys
from typing import Any


def add_server_commands(commands: Any) -> None:
    """Register `serve` and `keys` on the CLI's subparsers."""
    serve = commands.add_parser("serve", help="run the REST API (and, later, the web page)")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1: this machine only)")
    serve.add_argument("--port", type=int, help="port (default 8000)")
    keys = serve.add_mutually_exclusive_group()
    keys.add_argument("--require-keys", dest="require_keys", action="store_true", default=None,
                      help="require API keys even on loopback")
    keys.add_argument("--no-keys", dest="require_keys", action="store_false",
                      help="serve without keys even on a public address (only behind your own auth proxy!)")
    serve.set_defaults(run=_run_serve)

    manage = commands.add_parser("keys", help="API keys: create (shown once), list, revoke")
    manage.add_argument("action", choices=("create", "list", "revoke"))
    manage.add_argument("name", nargs="?", help="create: a label for the key; revoke: the key id")
    manage.set_defaults(run=_run_keys)


def _settings(args: argparse.Namespace) -> Any:
    from talker.cli import settings_from

    settings: Any = settings_from(args)
    server = settings.server.model_copy(update={k: v for k, v in (("host", getattr(args, "host", None)),
                                                                   ("port", getattr(args, "port", None))) if v})
    return settings.model_copy(update={"server": server})


def _run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from talker.server.app import create_app, keys_path
    from talker.server.auth import keys_required
    from talker.server.keys import KeyStore

    settings = _settings(args)
    required = args.require_keys if args.require_keys is not None else keys_required(
        settings.server.host, settings.server.require_keys)
    if required and not KeyStore(keys_path(settings)).any():
        print("talker: API keys are required but none exist yet: `talker keys create NAME` makes one",
              file=sys.stderr)
    app = create_app(settings, require_keys=required)
    where = f"http://{settings.server.host}:{settings.server.port}"
    print(f"talker API on {where}/v1 (docs: {where}/docs; keys {'required' if required else 'not required'})")
    uvicorn.run(app, host=settings.server.host, port=settings.server.port, log_level="warning")
    return 0


def _run_keys(args: argparse.Namespace) -> int:
    from talker.errors import InputError
    from talker.server.app import keys_path
    from talker.server.keys import KeyStore

    store = KeyStore(keys_path(_settings(args)))
    try:
        if args.action == "create":
            key, secret = store.create(args.name or "")
            print(f"created key {key.id} ({key.name}); its secret, shown only now:\n{secret}")
        elif args.action == "revoke":
            if not args.name:
                raise InputError("give the id of the key to revoke (see `talker keys list`)")
            key = store.revoke(args.name)
            print(f"revoked {key.id} ({key.name})")
        else:
            listed = store.list()
            for key in listed:
                created = datetime.datetime.fromtimestamp(key.created).strftime("%Y-%m-%d %H:%M")
                state = "revoked" if key.revoked else "live"
                print(f"{key.id:<18} {key.name:<24} {created}  {state}")
            if not listed:
                print("no keys yet: `talker keys create NAME`")
    finally:
        store.close()
    return 0
