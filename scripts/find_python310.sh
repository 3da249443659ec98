#!/usr/bin/env bash
# Prints the path of a Python 3.10 interpreter: $PYTHON310, python3.10 on PATH, or one managed by pyenv.
set -euo pipefail
is_310() { [ -x "$1" ] && [ "$("$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" = "3.10" ]; }
for candidate in "${PYTHON310:-}" "$(command -v python3.10 || true)" \
                 "$(pyenv prefix 3.10 2>/dev/null | head -n1)/bin/python" \
                 "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.10*/bin/python; do
  if [ -n "$candidate" ] && is_310 "$candidate"; then echo "$candidate"; exit 0; fi
done
cat >&2 <<'MSG'
error: no Python 3.10 interpreter found.
This project needs Python 3.10 (TFX 1.16 does not install on 3.11+). Looked for: $PYTHON310, python3.10 on PATH,
and pyenv versions 3.10.*. Install one, for example:
    pyenv install 3.10.13                  # with pyenv
    sudo apt-get install python3.10-venv   # on distributions that package it
or point PYTHON310 at an existing interpreter:  make run PYTHON310=/path/to/python3.10
MSG
exit 1
