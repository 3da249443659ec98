"""Debian packages some tests need (MariaDB, Chromium): installed with apt when missing, else a reason to skip."""
from __future__ import annotations

import os
import shutil
import subprocess
from typing import List, Optional

APT_TIMEOUT_S = 900


def found(binary: str) -> bool:
  """Whether a program is there, by absolute path or on PATH."""
  return os.access(binary, os.X_OK) if os.path.isabs(binary) else shutil.which(binary) is not None


def apt(*args: str) -> List[str]:
  """An apt-get command line, through sudo -n when not root."""
  command = ['env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', *args]
  return command if os.geteuid() == 0 else ['sudo', '-n', *command]


def ensure(binary: str, package: str) -> Optional[str]:
  """None when binary is there, installing package with apt if needed; otherwise why it is not."""
  if found(binary):
    return None
  if not shutil.which('apt-get'):
    return f'{package} is not installed and there is no apt-get to install it'
  install = apt('install', '-y', '-q', '--no-install-recommends', package)
  process = subprocess.run(install, capture_output=True, text=True, timeout=APT_TIMEOUT_S, check=False)
  if process.returncode != 0:  # Package lists may be missing or stale on a fresh machine.
    subprocess.run(apt('update', '-q'), capture_output=True, text=True, timeout=APT_TIMEOUT_S, check=False)
    process = subprocess.run(install, capture_output=True, text=True, timeout=APT_TIMEOUT_S, check=False)
  if process.returncode != 0 or not found(binary):
    return f'{package} could not be installed with apt-get: {(process.stderr or process.stdout).strip()[-300:]}'
  return None
