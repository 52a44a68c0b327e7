# Prepares envtest assets: a directory holding `kube-apiserver` and `etcd`, named by
# KUBEBUILDER_ASSETS, as envtest (controller-runtime, kube-rs users) expects. Source
# this file, then call `envtest_up`. The tests start the servers themselves.
#
# - KUBEBUILDER_ASSETS already set: used as it is (`setup-envtest use 1.33 -p path`).
# - Otherwise, from ../shared/envtest when it exists: its kube-apiserver binaries are
#   decompressed under target/envtest (again only when their checksum changes) and
#   etcd comes from Debian's etcd-server package, installed when missing. This also
#   prepares FASTERCLAW_ENVTEST_OLDEST, Kubernetes 1.25, the oldest version supported.
# - Neither: says so loudly and runs the end-to-end tests on the Kubernetes API
#   simulator (FASTERCLAW_TEST_KUBE=simulator).

ENVTEST_SHARED="${ENVTEST_SHARED:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)/shared/envtest}"

envtest_ensure_etcd() {
  if command -v etcd >/dev/null 2>&1; then return 0; fi
  echo "envtest: installing etcd (Debian package etcd-server)" >&2
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "envtest: need root or sudo to install etcd" >&2; return 1; }
    sudo="sudo"
  fi
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server >/dev/null 2>&1 || {
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server >/dev/null
  }
  # The package may start a service of its own; the tests start their own etcd.
  command -v etcd >/dev/null 2>&1
}

# envtest_prepare XZ DIR: DIR/kube-apiserver from XZ, DIR/etcd linked to the system's.
envtest_prepare() {
  local xz=$1 dir=$2 sum
  sum=$(sha256sum "$xz" | cut -d' ' -f1)
  mkdir -p "$dir"
  if [ ! -x "$dir/kube-apiserver" ] || [ "$(cat "$dir/.source-sha256" 2>/dev/null)" != "$sum" ]; then
    xz -dc "$xz" >"$dir/kube-apiserver.part"
    chmod +x "$dir/kube-apiserver.part"
    mv "$dir/kube-apiserver.part" "$dir/kube-apiserver"
    echo "$sum" >"$dir/.source-sha256"
  fi
  ln -sf "$(command -v etcd)" "$dir/etcd"
}

envtest_up() {
  if [ -n "${KUBEBUILDER_ASSETS:-}" ]; then
    if [ ! -x "$KUBEBUILDER_ASSETS/kube-apiserver" ] || [ ! -x "$KUBEBUILDER_ASSETS/etcd" ]; then
      echo "envtest: KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS must hold kube-apiserver and etcd" >&2
      return 1
    fi
    echo "envtest: using KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS" >&2
  elif [ -f "$ENVTEST_SHARED/kube-apiserver.xz" ]; then
    envtest_ensure_etcd || return 1
    command -v xz >/dev/null 2>&1 || { echo "envtest: xz is needed to unpack the assets" >&2; return 1; }
    envtest_prepare "$ENVTEST_SHARED/kube-apiserver.xz" "$PWD/target/envtest/current"
    export KUBEBUILDER_ASSETS="$PWD/target/envtest/current"
    echo "envtest: KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS ($("$KUBEBUILDER_ASSETS/kube-apiserver" --version))" >&2
  else
    cat >&2 <<'EOF'

  ******************************************************************************
  *  NO REAL KUBERNETES API SERVER: neither KUBEBUILDER_ASSETS nor              *
  *  ../shared/envtest is available. The end-to-end tests run on the           *
  *  Kubernetes API SIMULATOR instead, which is NOT a real server. Set          *
  *  KUBEBUILDER_ASSETS (setup-envtest use 1.33 -p path) to test for real.      *
  ******************************************************************************

EOF
    export FASTERCLAW_TEST_KUBE=simulator
  fi
  if [ -z "${FASTERCLAW_ENVTEST_OLDEST:-}" ] && [ -f "$ENVTEST_SHARED/v1.25/kube-apiserver.xz" ]; then
    envtest_ensure_etcd || return 1
    envtest_prepare "$ENVTEST_SHARED/v1.25/kube-apiserver.xz" "$PWD/target/envtest/oldest"
    export FASTERCLAW_ENVTEST_OLDEST="$PWD/target/envtest/oldest"
  fi
  if [ -n "${FASTERCLAW_ENVTEST_OLDEST:-}" ]; then
    echo "envtest: FASTERCLAW_ENVTEST_OLDEST=$FASTERCLAW_ENVTEST_OLDEST ($("$FASTERCLAW_ENVTEST_OLDEST/kube-apiserver" --version))" >&2
  else
    echo "envtest: no Kubernetes 1.25 assets (FASTERCLAW_ENVTEST_OLDEST): the oldest-version tests will fail" >&2
  fi
}
