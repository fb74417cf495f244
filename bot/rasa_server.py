"""`python -m bot.rasa_server`: the Rasa server, started without any secret on its command line.

`rasa run --auth-token VALUE` put the token in every process listing, and a generated token that
starts with "-" made argparse reject it ("expected one argument"). Here the token comes from the
settings (environment or var/), and this is the one place for Rasa-process behaviour
(bot/rasa_actions.py: short action deadlines, fallback replies, session start without the action
server). Arguments are the non-secret ones the launcher chooses.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys

from bot.settings import PROJECT_ROOT, get_settings


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bot.rasa_server")
    parser.add_argument("--model", required=True)
    parser.add_argument("--endpoints", default=str(PROJECT_ROOT / "endpoints.yml"))
    parser.add_argument("--credentials", help="input channels (omit with --channel)")
    parser.add_argument("--channel", help="a single connector instead, e.g. cmdline for a terminal chat")
    parser.add_argument("--interface", help="address to listen on (default: the settings' FSGS_HOST)")
    parser.add_argument("--port", type=int, help="default: the settings' RASA_PORT")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_arguments(argv)
    settings = get_settings()

    import rasa.utils.io
    import rasa.utils.tensorflow.environment as tf_env
    from rasa.core.run import serve_application
    from rasa.core.utils import AvailableEndpoints
    from rasa.utils.common import configure_logging_and_warnings
    from rasa.utils.log_utils import configure_structlog

    # What `rasa run` sets up before serving.
    configure_logging_and_warnings(logging.INFO, warn_only_once=True, filter_repeated_logs=True)
    tf_env.setup_tf_environment()
    rasa.utils.io.configure_colored_logging(logging.INFO)
    configure_structlog(logging.INFO)
    sys.path.insert(1, os.getcwd())  # as `rasa run` does: custom components load from the project

    from bot import rasa_actions

    rasa_actions.install(settings)
    serve_application(
        model_path=args.model, channel=args.channel, credentials=args.credentials,
        interface=args.interface or settings.host, port=args.port or settings.rasa_port,
        cors="*", auth_token=settings.rasa_auth_token, enable_api=True,
        endpoints=AvailableEndpoints.read_endpoints(args.endpoints))


if __name__ == "__main__":
    main()
