#!/usr/bin/env bash
# Installs what Ballast needs on a fresh Debian machine: PostgreSQL 15 + PgBouncer (for the tests and the
# local stage) and a Python virtualenv at .venv with requirements-dev.txt. Idempotent and quiet when done.
set -euo pipefail
cd "$(dirname "$0")/.."

need_services="${BALLAST_NEED_SERVICES:-1}"
if [[ "$need_services" == 1 ]]; then
  missing=()
  [[ -x /usr/lib/postgresql/15/bin/postgres ]] || missing+=(postgresql-15)
  command -v pgbouncer >/dev/null 2>&1 || [[ -x /usr/sbin/pgbouncer ]] || missing+=(pgbouncer)
  if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]} (apt)" >&2
    sudo=""; [[ $(id -u) -eq 0 ]] || sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # Debian starts a cluster and PgBouncer as services; Ballast runs its own throwaway ones instead.
    $sudo service postgresql stop >/dev/null 2>&1 || true
    $sudo service pgbouncer stop >/dev/null 2>&1 || true
  fi
fi

python="${BALLAST_PYTHON:-python3}"
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "setup: Python >= 3.11 is required (found $("$python" --version 2>&1))" >&2
  exit 1
fi
stamp=.venv/.ballast-requirements
want=$(cat requirements.txt requirements-dev.txt runtime/requirements.txt infra/policy/requirements.txt | sha256sum)
if [[ ! -x .venv/bin/python || ! -f $stamp || "$(cat "$stamp")" != "$want" ]]; then
  echo "setup: creating .venv and installing requirements-dev.txt" >&2
  [[ -x .venv/bin/python ]] || "$python" -m venv .venv
  # The pip.conf of some machines names local mirrors that may be absent; that noise is not ours.
  .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt 2> >(grep -v "is ignored: it is neither" >&2)
  echo "$want" > "$stamp"
fi
