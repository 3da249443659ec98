"""A throwaway MariaDB server for tests: on a free loopback port, own data dir."""
from __future__ import annotations

import dataclasses
import getpass
import socket
import subprocess
import time
from pathlib import Path

import system_packages

SERVER = '/usr/sbin/mariadbd'
INSTALL_DB = 'mariadb-install-db'
CLIENT = 'mariadb'
HOST = '127.0.0.1'  # MLMD's MySQL client needs an address, not localhost (tensorflow/tfx #1702).
START_TIMEOUT_S = 60


@dataclasses.dataclass(frozen=True)
class Server:
  """A running server and the account the pipeline uses."""
  process: subprocess.Popen
  port: int
  socket_path: str
  user: str
  password: str
  database: str

  def uri(self, with_password: bool = False) -> str:
    """The --metadata-uri of the pipeline's database, with or without the password in it."""
    secret = f':{self.password}' if with_password else ''
    return f'mysql://{self.user}{secret}@{HOST}:{self.port}/{self.database}'


def require_installed() -> None:
  """Returns when the server and its tools are installed; else skips the test (fails it under CI=true)."""
  for binary in (SERVER, INSTALL_DB, CLIENT):
    system_packages.require(binary, 'mariadb-server')


def free_port() -> int:
  """A TCP port on the loopback interface that nothing listens on now."""
  with socket.socket() as s:
    s.bind((HOST, 0))
    return s.getsockname()[1]


def sql(server_socket: str, statement: str) -> str:
  """Runs statements as the server's root over its unix socket and returns the output."""
  process = subprocess.run([CLIENT, '--no-defaults', f'--socket={server_socket}', '--user=root', '--batch',
                            '--skip-column-names', '-e', statement],
                           capture_output=True, text=True, timeout=60, check=True)
  return process.stdout


def wait_until_ready(process: subprocess.Popen, server_socket: str, log: Path) -> None:
  """Returns once the server answers a query; raises with the server log if it exits or never answers."""
  deadline = time.monotonic() + START_TIMEOUT_S
  while time.monotonic() < deadline:
    if process.poll() is not None:
      raise RuntimeError(f'mariadbd exited with {process.returncode}:\n{log.read_text()[-2000:]}')
    try:
      sql(server_socket, 'SELECT 1')
      return
    except subprocess.CalledProcessError:
      time.sleep(0.5)
  raise RuntimeError(f'mariadbd did not answer within {START_TIMEOUT_S} s:\n{log.read_text()[-2000:]}')


def start(base_dir: Path, user: str = 'tfx', password: str = 'pw-Secret-7Q', database: str = 'mlmd') -> Server:
  """A fresh server with its data under base_dir, and an account with native-password auth on one database."""
  data_dir, run_dir = base_dir / 'data', base_dir / 'run'
  run_dir.mkdir(parents=True, exist_ok=True)
  os_user = getpass.getuser()
  subprocess.run([INSTALL_DB, '--no-defaults', f'--datadir={data_dir}', f'--user={os_user}',
                  '--auth-root-authentication-method=socket', f'--auth-root-socket-user={os_user}',
                  '--skip-test-db', '--skip-name-resolve'],
                 capture_output=True, text=True, timeout=300, check=True)
  port, server_socket, log = free_port(), str(run_dir / 'mysqld.sock'), run_dir / 'mysqld.log'
  process = subprocess.Popen(
      [SERVER, '--no-defaults', f'--datadir={data_dir}', f'--socket={server_socket}', f'--port={port}',
       f'--bind-address={HOST}', f'--pid-file={run_dir / "mysqld.pid"}', f'--log-error={log}',
       f'--user={os_user}', '--skip-name-resolve', '--innodb-buffer-pool-size=32M',
       '--innodb-log-file-size=16M', '--performance-schema=OFF'],
      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  try:
    wait_until_ready(process, server_socket, log)
    sql(server_socket, f"CREATE DATABASE {database}; "
                       f"CREATE USER '{user}'@'%' IDENTIFIED VIA mysql_native_password USING PASSWORD('{password}'); "
                       f"GRANT ALL PRIVILEGES ON {database}.* TO '{user}'@'%'; FLUSH PRIVILEGES;")
  except Exception:
    stop_process(process)
    raise
  return Server(process, port, server_socket, user, password, database)


def stop_process(process: subprocess.Popen) -> None:
  """Stops a server process, politely first."""
  if process.poll() is None:
    process.terminate()
    try:
      process.wait(timeout=60)
    except subprocess.TimeoutExpired:
      process.kill()
      process.wait()


def stop(server: Server) -> None:
  """Shuts the server down; its data dir is left to the caller's temporary directory."""
  stop_process(server.process)


def dump(server: Server) -> str:
  """Every row of the pipeline's database as SQL, read as the server's root over its socket."""
  return subprocess.run(['mariadb-dump', '--no-defaults', f'--socket={server.socket_path}', '--user=root',
                         '--skip-comments', server.database],
                        capture_output=True, text=True, timeout=120, check=True).stdout
