# A release's db-setup image: upshift (static) and the release's migrations.
# BUILD_ID makes every build's image its own: two tests whose releases have
# the same migrations would otherwise share one image, and one test's
# cleanup could delete it while the other's build was just reusing it.
FROM scratch
ARG BUILD_ID=
LABEL io.upshift.test.build=$BUILD_ID
COPY upshift /upshift
COPY drizzle /drizzle
ENTRYPOINT ["/upshift", "migrate", "--dir", "/drizzle", "--service", "app", "--connect-retries", "30"]
