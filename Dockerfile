# Greenlight's runtime image: one static binary on an empty base. No shell, no package manager,
# no OS certificate store (the binary bundles its TLS roots), nothing to patch but the binary.
#
# The binary is built OUTSIDE this build, with cargo and the repository's target directory, so CI
# and CodeBuild compile it once for the tests and the image alike (see scripts/ship/build.sh):
#
#   cargo build --locked --release --target x86_64-unknown-linux-musl -p greenlight
#   buildah bud --format docker --build-arg REVISION="$(git rev-parse HEAD)" -t greenlight:dev .
#
# On Graviton pass --build-arg BINARY=target/aarch64-unknown-linux-musl/release/greenlight.
FROM scratch

# Path of the static binary inside the build context.
ARG BINARY=target/x86_64-unknown-linux-musl/release/greenlight
ARG REVISION=unknown
ARG VERSION=0.1.0
ARG SOURCE=https://github.com/greenlight-dev/greenlight

LABEL org.opencontainers.image.title="greenlight" \
      org.opencontainers.image.description="Streaming LLM chat server built for blue/green deploys" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"

# Root-owned and not writable by the runtime user: the process cannot replace its own binary.
COPY ${BINARY} /greenlight

# Listen on every interface of the task's network namespace (the binary's default is loopback).
# GIT_COMMIT is not set here: an "unknown" default would hide the commit compiled into the binary.
ENV HOST=0.0.0.0 \
    PORT=8080

# The distroless "nonroot" UID/GID; numeric, since there is no /etc/passwd to resolve a name.
USER 65532:65532
EXPOSE 8080

# Exec form only: there is no shell. Same probe as the ECS task definition's health check.
HEALTHCHECK --interval=5s --timeout=2s --start-period=10s --retries=3 \
    CMD ["/greenlight", "healthcheck"]

# SIGTERM (the default stop signal) starts the drain; see docs/contract.md "Deployment names".
ENTRYPOINT ["/greenlight"]
