# syntax=docker/dockerfile:1
# The production image: the `fasterclaw` binary only (the controller, the facade and
# the operator commands); the stand-ins of fasterclaw-sim are never built into it.
#
#   docker build -t fasterclaw .
#   docker run fasterclaw api          # or: controller, migrate run, ...

ARG RUST_VERSION=1.95

# Dependencies are built in their own layer (cargo-chef), so a change to the code
# rebuilds only the crate itself.
FROM rust:${RUST_VERSION}-slim-bookworm AS chef
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
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
COPY --from=builder /build/target/release/fasterclaw /usr/local/bin/fasterclaw
USER 65532:65532
# The facade's port and the controller's metrics and health port.
EXPOSE 3001 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s \
    CMD ["/usr/local/bin/fasterclaw", "probe", "http://127.0.0.1:3001/health"]
ENTRYPOINT ["/usr/local/bin/fasterclaw"]
CMD ["api"]
