# A release's db-setup image: upshift (static) and the release's migrations.
FROM scratch
COPY upshift /upshift
COPY drizzle /drizzle
ENTRYPOINT ["/upshift", "migrate", "--dir", "/drizzle", "--service", "app", "--connect-retries", "30"]
