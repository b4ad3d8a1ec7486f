# The node agent: one static (musl) binary and the CA bundle, on an empty image.
# Build from the repository root: docker build -f deploy/docker/agent.Dockerfile -t kubeward/kubeward-agent:0.1.0 .
FROM rust:1.95-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends musl-tools \
    && rm -rf /var/lib/apt/lists/* \
    && rustup target add x86_64-unknown-linux-musl
# ring builds C code: compile it with musl-gcc for the static target.
ENV CC_x86_64_unknown_linux_musl=musl-gcc
WORKDIR /src
COPY . .
RUN cargo build --release --locked --target x86_64-unknown-linux-musl -p kubeward-agent \
    && cp target/x86_64-unknown-linux-musl/release/kubeward-agent /kubeward-agent

FROM scratch
# The system roots that verify the server's certificate when no --ca-file is given.
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /kubeward-agent /kubeward-agent
# Root inside the container is what reads the host's files; the DaemonSet drops every capability but two.
USER 0:0
ENTRYPOINT ["/kubeward-agent"]
CMD ["run"]
