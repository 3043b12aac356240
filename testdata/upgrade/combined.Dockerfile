# An app image that carries its own migrator, as Mana's and Sentry's do
# (`docker compose run --rm app pnpm run db:migrate`): the test service and
# upshift with the release's migrations; its command is the service.
FROM scratch
ARG APP_VERSION=dev
ARG REQUIRE_COLUMN=
COPY testapp /testapp
COPY upshift /upshift
COPY drizzle /drizzle
ENV APP_VERSION=$APP_VERSION APP_MODE=ok REQUIRE_COLUMN=$REQUIRE_COLUMN
EXPOSE 8080
CMD ["/testapp"]
