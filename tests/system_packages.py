"""Debian packages some tests need (MariaDB, Chromium): found, never installed here (`.ci/run` installs them).

A test that needs a missing package is skipped locally and fails under CI=true, saying which package and how to
install it, so a CI run never passes by skipping what it was meant to test.
"""
from __future__ import annotations

import os
import shutil
from typing import Optional

import pytest

INSTALL_HINT = 'install it with: sudo apt-get install -y {package} (.ci/run does this before the tests)'


def found(binary: str) -> bool:
  """Whether a program is there, by absolute path or on PATH."""
  return os.access(binary, os.X_OK) if os.path.isabs(binary) else shutil.which(binary) is not None


def missing(binary: str, package: str) -> Optional[str]:
  """None when binary is there, else why a test that needs it cannot run."""
  if found(binary):
    return None
  return f'{binary} (Debian package {package}) is not installed; ' + INSTALL_HINT.format(package=package)


def on_ci() -> bool:
  """Whether this is a CI run (CI=true, as CI services and .ci/run set it)."""
  return os.environ.get('CI', '').strip().lower() in ('true', '1', 'yes')


def require(binary: str, package: str) -> None:
  """Returns when binary is there; otherwise fails the test under CI=true and skips it elsewhere."""
  reason = missing(binary, package)
  if reason is None:
    return
  if on_ci():
    pytest.fail(f'CI=true and {reason}', pytrace=False)
  pytest.skip(reason)
