#!/usr/bin/env bash
# One idempotent setup for `make test` and `make poc`: Debian servers when missing, then a venv in the
# repo holding exactly requirements.lock.
set -euo pipefail
cd "$(dirname "$0")/.."

need_pkgs=()
command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || need_pkgs+=(mariadb-server)
command -v redis-server >/dev/null 2>&1 || need_pkgs+=(redis-server)
command -v redis-sentinel >/dev/null 2>&1 || need_pkgs+=(redis-sentinel)
# the server's view beside every cell: one Prometheus per run and an exporter per pod (issue 15)
command -v mariadb-backup >/dev/null 2>&1 || need_pkgs+=(mariadb-backup)
for pkg in prometheus prometheus-mysqld-exporter prometheus-redis-exporter; do
  command -v "$pkg" >/dev/null 2>&1 || need_pkgs+=("$pkg")
done

if [ ${#need_pkgs[@]} -gt 0 ]; then
  cmd="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y ${need_pkgs[*]}"
  if [ "$(id -u)" = 0 ]; then sudo_=""
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo_="sudo -n"
  else
    echo "setup: missing Debian packages: ${need_pkgs[*]}; run: sudo sh -c '$cmd'" >&2
    exit 2
  fi
  echo "setup: installing ${need_pkgs[*]} (Debian packages)"
  $sudo_ sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${need_pkgs[*]} >/dev/null"
  # The packages may have started system-wide servers we just installed; the harness starts its own.
  for svc in mariadb redis-server redis-sentinel prometheus prometheus-node-exporter prometheus-mysqld-exporter \
             prometheus-redis-exporter; do
    $sudo_ sh -c "service $svc stop >/dev/null 2>&1 || true"
  done
fi

PY=${PYTHON:-python3}
stamp=.venv/.installed
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PY" -m venv .venv
fi
# Exactly requirements.lock (every package pinned, hashes checked; `make lock` refreshes it), then the
# harness itself, editable, with nothing else resolved: its build backend (setuptools) is in the lock.
if [ ! -f "$stamp" ] || [ requirements.lock -nt "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: installing requirements.lock and the harness into .venv"
  log=.venv/pip-install.log
  pip_=(.venv/bin/python -m pip --disable-pip-version-check)
  if ! { "${pip_[@]}" install --require-hashes --no-deps -r requirements.lock \
         && "${pip_[@]}" install --no-deps --no-build-isolation -e .; } >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "setup: pip install failed; full log: $log" >&2
    exit 1
  fi
  touch "$stamp"
fi
