# Installs the tools the checks need when they are missing. Source this file.

SQLX_CLI_VERSION=0.9.0

ensure_sqlx_cli() {
  if command -v sqlx >/dev/null 2>&1 && sqlx --version 2>/dev/null | grep -q " $SQLX_CLI_VERSION"; then
    return 0
  fi
  echo "tools: installing sqlx-cli $SQLX_CLI_VERSION (once per machine)" >&2
  cargo install --quiet --locked sqlx-cli --version "$SQLX_CLI_VERSION" \
    --no-default-features --features postgres,rustls
}

ensure_kubectl() {
  if command -v kubectl >/dev/null 2>&1; then
    return 0
  fi
  echo "tools: installing kubectl (Debian package kubernetes-client)" >&2
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "tools: need root or sudo to install kubectl" >&2; return 1; }
    sudo="sudo"
  fi
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kubernetes-client >/dev/null
}

SCHEMATHESIS_VERSION=4.32.5

ensure_schemathesis() {
  if command -v st >/dev/null 2>&1 && st --version 2>/dev/null | grep -q " $SCHEMATHESIS_VERSION"; then
    return 0
  fi
  echo "tools: installing schemathesis $SCHEMATHESIS_VERSION (PyPI)" >&2
  python3 -m pip install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
  # pyenv and user installs may need their shims refreshed before `st` is found.
  command -v pyenv >/dev/null 2>&1 && pyenv rehash || true
  hash -r
  command -v st >/dev/null 2>&1 || {
    echo "tools: schemathesis installed but \`st\` is not on PATH" >&2
    return 1
  }
}
