# The db-setup image of one release: upshift (`make image` builds
# upshift:VERSION) plus this release's drizzle-kit output. Its command waits
# for PostgreSQL, creates the database if it is new, and migrates under the
# service's advisory lock.
FROM upshift:latest
COPY drizzle /drizzle
ENV MIGRATIONS_DIR=/drizzle SERVICE=mana-auth
