#!/usr/bin/env bash
# Fallback for the llama-cpp-python server comparison when .venv-peers/ does not exist: a separate
# virtual environment with llama-cpp-python[server], pinned to the versions the published figures
# used. It never touches the project's .venv. pip reuses its cached llama-cpp-python wheel if one was
# built before; otherwise this compiles llama.cpp (~10 minutes on 2 cores).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/bench/.venv-llama-server"
python="${PYTHON:-python3.11}"
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
"$venv/bin/pip" install -q \
  "llama-cpp-python==0.3.36" \
  "uvicorn==0.54.0" "fastapi==0.165.0" "starlette==1.10.0" "sse-starlette==3.7.0" \
  "starlette-context==0.3.6" "pydantic==2.14.3" "pydantic-settings==2.16.3" "PyYAML==6.0.3" \
  "numpy==2.4.6" "diskcache==5.6.3" "Jinja2==3.1.6"
"$venv/bin/python" -c "import llama_cpp.server.app; import llama_cpp; print('llama-cpp-python', llama_cpp.__version__, 'server ready in', '$venv')"
