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
