# Shared helpers for the test scripts. Source it; do not run it.
# Every install here is idempotent so the same scripts serve a fresh CI clone and a warm dev machine.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export ROOT
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
# One target directory for every build (tests, image, Lambda) so each crate is compiled once.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
export CDK_DISABLE_CLI_TELEMETRY=true
export PIP_DISABLE_PIP_VERSION_CHECK=1

step() { printf '\n==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# apt_install PKG...: installs the Debian packages that are missing (runs `apt-get update` once).
apt_install() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  step "apt-get install ${missing[*]}"
  if [ ! -f /tmp/.greenlight-apt-updated ]; then
    apt-get update -qq && touch /tmp/.greenlight-apt-updated
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# python_env: the project's virtualenv at .venv with tests/requirements.txt (pinned) installed.
# Reinstalls only when the requirements file changes.
python_env() {
  local venv=$ROOT/.venv req=$ROOT/tests/requirements.txt stamp
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  stamp=$(sha256sum "$req" | cut -d' ' -f1)
  if [ "$(cat "$venv/.requirements.sha256" 2>/dev/null)" != "$stamp" ]; then
    step "pip install -r tests/requirements.txt"
    "$venv/bin/pip" install -q -r "$req"
    echo "$stamp" >"$venv/.requirements.sha256"
  fi
  export PATH=$venv/bin:$PATH
}

# npm_ci DIR: `npm ci` in DIR when its lock file changed since the last install.
npm_ci() {
  local dir=$1 stamp
  stamp=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
  if [ "$(cat "$dir/node_modules/.lock.sha256" 2>/dev/null)" != "$stamp" ]; then
    step "npm ci in ${dir#"$ROOT"/}"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$stamp" >"$dir/node_modules/.lock.sha256"
  fi
}
