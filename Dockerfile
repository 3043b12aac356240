# upshift as a container image: the static binary (PostgreSQL's parser linked
# in), CA certificates for TLS to managed PostgreSQL, a non-root user, nothing
# else. `make image` builds it without pulling anything: it compiles the
# binary, copies the host's CA bundle and builds FROM scratch.
#
# A service's db-setup image adds its migrations:
#
#   FROM upshift:VERSION
#   COPY drizzle /drizzle
#   ENV MIGRATIONS_DIR=/drizzle SERVICE=mana-auth
#
# and runs, by default, the whole "create the database if new, then migrate"
# step: wait up to 60 s for the server, create the database the URL names
# when it is missing, migrate under the service's advisory lock, with
# upshift's exit codes.
#
# With a Go base image at hand, a multi-stage build does the same:
#
#   FROM golang:1.26-bookworm AS build
#   WORKDIR /src
#   COPY . .
#   RUN CGO_ENABLED=1 go build -trimpath -tags netgo,osusergo,migrator \
#         -ldflags '-s -w -linkmode external -extldflags "-static"' -o /upshift ./cmd/upshift
#   FROM scratch
#   COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
#   COPY --from=build /upshift /usr/local/bin/upshift
#   USER 65532:65532
#   ENTRYPOINT ["/usr/local/bin/upshift"]
#   CMD ["migrate", "--wait", "60s", "--create-database"]
FROM scratch
ARG VERSION=dev
ARG COMMIT=
LABEL org.opencontainers.image.title="upshift" \
      org.opencontainers.image.description="Ship Drizzle migrations and new service versions safely" \
      org.opencontainers.image.version="$VERSION" \
      org.opencontainers.image.revision="$COMMIT" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/upshift-dev/upshift"
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY upshift /usr/local/bin/upshift
ENV MIGRATIONS_DIR=/drizzle
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/upshift"]
CMD ["migrate", "--wait", "60s", "--create-database"]
