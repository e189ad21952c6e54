# syntax=docker/dockerfile:1
# The image deploy/indexed-job.yaml runs. Build and push it from the repository root:
#   docker build -t REGISTRY/healthcheck:TAG .
#   docker push REGISTRY/healthcheck:TAG
#
# Stage 1 compiles the release binary exactly as the README does (`--locked`: the versions of
# Cargo.lock). The cache mounts keep the registry and target/ between builds (BuildKit).
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin healthcheck \
    && cp target/release/healthcheck /usr/local/bin/healthcheck

# Stage 2: the binary needs glibc and nothing else (`ldd`: libc, libm, libgcc_s; the trust
# roots are compiled in, jemalloc is linked statically). Debian slim rather than distroless
# because the Job's command runs through /bin/sh to expand the shard index.
FROM debian:bookworm-slim
RUN useradd --create-home --uid 10001 --user-group healthcheck
COPY --from=build /usr/local/bin/healthcheck /usr/local/bin/healthcheck
# Numeric, so that Kubernetes' runAsNonRoot can tell it is not root.
USER 10001:10001
WORKDIR /home/healthcheck
ENTRYPOINT ["healthcheck"]
CMD ["--help"]
