# The server. It expects DATABASE_URL; zero configuration (an embedded PostgreSQL) is for machines, not
# for this image. It listens on 0.0.0.0, so it also needs KUBEWARD_TLS_CERT and KUBEWARD_TLS_KEY (or
# KUBEWARD_PLAIN_HTTP=true behind a TLS-terminating proxy): it refuses plain HTTP beyond loopback otherwise.
# Build from the repository root: docker build -f deploy/docker/server.Dockerfile -t kubeward/kubeward-server:0.1.0 .
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p kubeward-server \
    && cp target/release/kubeward-server /kubeward-server

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 65532 kubeward \
    && useradd --system --uid 65532 --gid 65532 --home-dir /nonexistent --shell /usr/sbin/nologin kubeward
COPY --from=build /kubeward-server /usr/local/bin/kubeward-server
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/kubeward-server"]
CMD ["serve", "--bind=0.0.0.0:8080", "--log-format=json"]
