"""`import talker` and `talker --help` stay light: no ML runtime is imported until it is needed."""

import subprocess
import sys

HEAVY = ("onnxruntime", "torch", "mediapipe", "kokoro_onnx", "faster_whisper", "ctranslate2", "jieba", "onnx")


def test_import_and_help_load_no_ml_runtime() -> None:
    code = (
        "import sys, contextlib, io\n"
        "import talker, talker.cli, talker.config, talker.registry\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        "        talker.cli.main(['--help'])\n"
        "    except SystemExit:\n"
        "        pass\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_help_lists_subcommands() -> None:
    result = subprocess.run([sys.executable, "-m", "talker", "--help"], capture_output=True, text=True, check=True)
    for command in ("models", "say", "voices"):
        assert command in result.stdout
