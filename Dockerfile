# syntax=docker/dockerfile:1
# The production image: the `fasterclaw` binary only (the controller, the facade and
# the operator commands); the stand-ins of fasterclaw-sim are never built into it.
#
#   docker build -t fasterclaw .
#   docker run fasterclaw api          # or: controller, migrate run, ...

# Both base images are pinned by digest; the tag says what the digest is. To bump one,
# choose the tag (the Rust version must stay at least the workspace's rust-version),
# then take the digest of its multi-platform index and replace tag and digest together:
#   docker buildx imagetools inspect rust:1.95-slim-bookworm              # "Digest: sha256:..."
#   docker buildx imagetools inspect gcr.io/distroless/cc-debian12:nonroot
# (scripts/checks/dockerfile.py refuses a FROM of an outside image without a digest.)

# Dependencies are built in their own layer (cargo-chef), so a change to the code
# rebuilds only the crate itself.
FROM rust:1.95-slim-bookworm@sha256:d7482085ff5b415f84dba5647ae71606650bdef00db7aeb69f4b3d170c3e4082 AS chef
RUN cargo install cargo-chef --locked --version 0.1.78
WORKDIR /build

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /build/recipe.json recipe.json
RUN cargo chef cook --release --locked --recipe-path recipe.json --package fasterclaw --bin fasterclaw
COPY . .
# Queries are checked against the committed .sqlx data; no database at build time.
ENV SQLX_OFFLINE=true
RUN cargo build --release --locked --package fasterclaw --bin fasterclaw \
    && strip target/release/fasterclaw

# glibc, CA certificates and nothing else: no shell, no package manager.
FROM gcr.io/distroless/cc-debian12:nonroot@sha256:9dac0a79194e45a7da0158a9c6da57b217585af0786db3845d1f0ec1a0dd182f AS runtime
COPY --from=builder /build/target/release/fasterclaw /usr/local/bin/fasterclaw
USER 65532:65532
# The facade's API port, the controller's metrics and health port, the facade's metrics port.
EXPOSE 3001 8080 9090
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s \
    CMD ["/usr/local/bin/fasterclaw", "probe", "http://127.0.0.1:3001/health"]
ENTRYPOINT ["/usr/local/bin/fasterclaw"]
CMD ["api"]
