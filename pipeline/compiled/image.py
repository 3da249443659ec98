"""The pipeline image, as far as this machine can build it: the project installed the way ./Dockerfile installs it.

The base image's TFX stack is this environment's (the same lock); the project is copied without what
.dockerignore leaves out and pip-installed with --no-deps into a fresh virtual environment, so tasks import the
installed package, never the checkout: a sub-package setup.py does not install, or a file the image lacks, fails
here as it would in the cluster. Paths that exist only in the image (IMAGE_PATHS) are mapped into the copy, and
the Dockerfile's ENV lines are the tasks' environment.
"""
from __future__ import annotations

import dataclasses
import fnmatch
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Dict, List

IMAGE_PROJECT_DIR = '/pipeline/'  # the Dockerfile's COPY . /pipeline
ENV_LINE = re.compile(r'^ENV\s+(\w+)=(\S+)\s*$')


@dataclasses.dataclass(frozen=True)
class LocalImage:
  """An installed image: its interpreter, its environment and where image-only paths are here."""
  python: str
  env: Dict[str, str]
  image_paths: Dict[str, str]


def dockerignore_patterns(repo_root: Path) -> List[str]:
  """The .dockerignore patterns, by name."""
  lines = (repo_root / '.dockerignore').read_text().splitlines()
  return [line.strip().removeprefix('**/').rstrip('/') for line in lines if line.strip() and not line.startswith('#')]


def build_context(repo_root: Path, destination: Path) -> Path:
  """A copy of the repository without what .dockerignore leaves out of the image."""
  patterns = dockerignore_patterns(repo_root)

  def ignored(directory: str, names: List[str]) -> List[str]:
    return [n for n in names if any(fnmatch.fnmatch(n, p) for p in patterns)]

  shutil.copytree(repo_root, destination, ignore=ignored)
  return destination


def dockerfile_env(repo_root: Path) -> Dict[str, str]:
  """The variables the Dockerfile sets with ENV NAME=VALUE."""
  lines = (repo_root / 'Dockerfile').read_text().splitlines()
  return dict(m.groups() for m in map(ENV_LINE.match, lines) if m)


def install(repo_root: Path, work_dir: Path) -> LocalImage:
  """Builds the context, installs it into a new virtual environment over this one's TFX stack; the image."""
  context = build_context(repo_root, work_dir / 'context')
  venv = work_dir / 'image'
  subprocess.run([sys.executable, '-m', 'venv', '--without-pip', str(venv)], check=True, capture_output=True)
  site_packages = next((venv / 'lib').glob('python3*/site-packages'))
  stack = sysconfig.get_paths()['purelib']  # TFX and its stack, as the base image provides them.
  (site_packages / 'tfx_stack.pth').write_text(f'import site; site.addsitedir({stack!r})\n')
  installed = subprocess.run(
      [sys.executable, '-m', 'pip', '--python', str(venv / 'bin' / 'python'), 'install', '--quiet', '--no-deps',
       '--no-index', '--no-build-isolation', '--disable-pip-version-check', str(context)],
      capture_output=True, text=True, check=False)
  if installed.returncode != 0:
    raise RuntimeError(f'installing the project as the Dockerfile does failed:\n{installed.stdout}{installed.stderr}')
  env = {'PATH': f'{venv / "bin"}:/usr/bin:/bin', 'HOME': str(work_dir), 'TF_CPP_MIN_LOG_LEVEL': '2',
         **dockerfile_env(repo_root)}
  return LocalImage(str(venv / 'bin' / 'python'), env, {IMAGE_PROJECT_DIR: str(context)})
