"""tests/system_packages.py: a missing system package skips a test locally and fails it under CI=true."""
import re
from pathlib import Path

import pytest

import system_packages

TESTS = Path(__file__).parent
ABSENT = '/nonexistent/bin/no-such-server'


def test_present_binary_passes(monkeypatch):
  monkeypatch.setenv('CI', 'true')
  assert system_packages.require('sh', 'dash') is None


def test_missing_package_fails_on_ci_naming_it(monkeypatch):
  monkeypatch.setenv('CI', 'true')
  with pytest.raises(pytest.fail.Exception, match=r'CI=true and .*no-such-server \(Debian package mariadb-server\)'):
    system_packages.require(ABSENT, 'mariadb-server')


@pytest.mark.parametrize('ci', ['', 'false'])
def test_missing_package_skips_elsewhere(monkeypatch, ci):
  monkeypatch.setenv('CI', ci)
  with pytest.raises(pytest.skip.Exception, match='apt-get install -y mariadb-server'):
    system_packages.require(ABSENT, 'mariadb-server')


def test_no_test_installs_system_packages():
  calls = re.compile(r"""['"](sudo|apt-get|apt)['"]""")
  offenders = [str(path.relative_to(TESTS)) for path in TESTS.rglob('*.py')
               if path != Path(__file__) and calls.search(path.read_text())]
  assert not offenders, f'tests must not run sudo or apt-get (.ci/run installs system packages): {offenders}'
