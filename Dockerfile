# syntax=docker/dockerfile:1
#
# One Dockerfile for every service image. Each service is a target:
#
#   docker build --target auth-server -t oauth-platform/auth-server:dev .
#   (also resource-gateway, email-service, jobs-service, demo-api)
#
# Stages: `planner` lists the dependencies (cargo-chef), `builder` compiles them in a layer that
# only changes when Cargo.toml/Cargo.lock do, then compiles the workspace; `runtime` is the common
# base of the service images: Debian slim, CA certificates, a non-root user, nothing else. The
# binaries link only libc, libm and libgcc_s (libpq, OpenSSL and SQLite are compiled in), so no
# library is installed. No HEALTHCHECK: probes belong to compose and Kubernetes. No secret is read
# at build time.

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS chef
# perl and make build the bundled OpenSSL and libpq; the slim Rust image has gcc and libc6-dev.
# Versions are not pinned: Debian stable only takes security fixes, and its mirrors drop the
# versions they replace, so a pin would break the build instead of protecting it.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends perl make \
    && rm -rf /var/lib/apt/lists/*
RUN cargo install cargo-chef --locked --version 0.1.73
WORKDIR /build

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
# Images carry function names in backtraces but not the line tables (a quarter of the size).
ENV CARGO_PROFILE_RELEASE_STRIP=debuginfo
COPY --from=planner /build/recipe.json recipe.json
RUN cargo chef cook --release --recipe-path recipe.json
COPY . .
RUN cargo build --release --locked \
        --bin auth-server --bin resource-gateway --bin email-service --bin jobs-service --bin demo-api \
    && mkdir /out \
    && cp target/release/auth-server target/release/resource-gateway target/release/email-service \
        target/release/jobs-service target/release/demo-api /out/

FROM debian:${DEBIAN_RELEASE}-slim AS runtime
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 platform \
    && useradd --system --uid 10001 --gid platform --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin platform
# Settings come from the environment (see each crate's README); services listen on all interfaces
# inside a container, where 127.0.0.1 would be unreachable.
ENV AUTH_LISTEN_ADDR=0.0.0.0:8081 \
    GATEWAY_LISTEN_ADDR=0.0.0.0:8080 \
    EMAIL_LISTEN_ADDR=0.0.0.0:8082 \
    JOBS_LISTEN_ADDR=0.0.0.0:8083 \
    DEMO_LISTEN_ADDR=0.0.0.0:8090 \
    AUTH_LOG__FORMAT=json \
    GATEWAY_LOG__FORMAT=json \
    EMAIL_LOG__FORMAT=json \
    JOBS_LOG__FORMAT=json
USER 10001:10001
WORKDIR /nonexistent
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.source="https://github.com/oauth-platform/oauth-platform" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.vendor="oauth-platform"

FROM runtime AS auth-server
LABEL org.opencontainers.image.title="auth-server" \
      org.opencontainers.image.description="OAuth 2.1 / OpenID Connect authorization server"
COPY --from=builder /out/auth-server /usr/local/bin/auth-server
EXPOSE 8081
ENTRYPOINT ["/usr/local/bin/auth-server"]
CMD ["serve"]

FROM runtime AS resource-gateway
LABEL org.opencontainers.image.title="resource-gateway" \
      org.opencontainers.image.description="Bearer-token gateway in front of the APIs"
COPY --from=builder /out/resource-gateway /usr/local/bin/resource-gateway
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/resource-gateway"]
CMD ["serve"]

FROM runtime AS email-service
LABEL org.opencontainers.image.title="email-service" \
      org.opencontainers.image.description="Sends the platform's emails from RabbitMQ commands"
COPY --from=builder /out/email-service /usr/local/bin/email-service
EXPOSE 8082
ENTRYPOINT ["/usr/local/bin/email-service"]
CMD ["serve"]

FROM runtime AS jobs-service
LABEL org.opencontainers.image.title="jobs-service" \
      org.opencontainers.image.description="Periodic jobs: token purge, account reminders, reports"
COPY --from=builder /out/jobs-service /usr/local/bin/jobs-service
EXPOSE 8083
ENTRYPOINT ["/usr/local/bin/jobs-service"]
CMD ["serve"]

FROM runtime AS demo-api
LABEL org.opencontainers.image.title="demo-api" \
      org.opencontainers.image.description="A demo upstream that answers with the identity the gateway vouched for"
COPY --from=builder /out/demo-api /usr/local/bin/demo-api
EXPOSE 8090
ENTRYPOINT ["/usr/local/bin/demo-api"]
