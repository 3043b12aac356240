# The test service: a static binary (internal/cmd/testapp) in an empty image.
FROM scratch
ARG APP_VERSION=dev
ARG APP_MODE=ok
ARG REQUIRE_COLUMN=
ARG APP_BUILD=
COPY testapp /testapp
ENV APP_VERSION=$APP_VERSION APP_MODE=$APP_MODE REQUIRE_COLUMN=$REQUIRE_COLUMN APP_BUILD=$APP_BUILD
EXPOSE 8080
ENTRYPOINT ["/testapp"]
