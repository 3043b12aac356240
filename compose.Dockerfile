# upshift with the docker CLI and the compose plugin: the orchestrator for a
# CD runner or a host cron that has nothing installed but the engine.
# `make image` builds it without pulling anything, FROM scratch, from static
# binaries: upshift (the full build), the docker CLI and the compose plugin
# (DOCKER_CLI, COMPOSE_PLUGIN), the host's CA bundle, an empty /tmp.
#
#   docker run --rm --network host \
#     -v /var/run/docker.sock:/var/run/docker.sock -v "$PWD:$PWD" -w "$PWD" \
#     upshift:VERSION-compose upgrade --service api --health-url http://127.0.0.1:3000/health
#
# It runs as root: the engine's socket is root's. The same folder path inside
# and out keeps the compose file's relative paths (build contexts, env files,
# bind mounts) meaning the same to the engine; --network host lets the health
# check reach what the host reaches. A private registry's login comes with
# -v "$HOME/.docker/config.json:/root/.docker/config.json:ro". There is no
# ssh client in the image: reach a remote engine by a tcp:// docker context.
FROM scratch
ARG VERSION=dev
ARG COMMIT=
LABEL org.opencontainers.image.title="upshift-compose" \
      org.opencontainers.image.description="upshift with the docker CLI and docker compose: upgrades and rollbacks of compose deployments" \
      org.opencontainers.image.version="$VERSION" \
      org.opencontainers.image.revision="$COMMIT" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/upshift-dev/upshift"
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY tmp /tmp
COPY docker /usr/local/bin/docker
COPY docker-compose /usr/local/lib/docker/cli-plugins/docker-compose
COPY upshift /usr/local/bin/upshift
ENV PATH=/usr/local/bin HOME=/root
ENTRYPOINT ["/usr/local/bin/upshift"]
CMD ["--help"]
