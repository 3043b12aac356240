#!/bin/sh
# Copies pg_query_go's root package (the parse tree's Go types and its
# entry points) from the module cache and makes its protobuf registration
# lazy: upstream builds the descriptors of ~350 message types in init(),
# which costs every upshift invocation 5-15 ms, also those that parse no SQL
# (the no-op migrate every deploy and container start runs). The C parser
# stays in the upstream module (github.com/pganalyze/pg_query_go/v6/parser).
# Run from this folder after changing the pg_query_go version in go.mod.
set -eu
mod=$(go list -m -f '{{.Dir}}' github.com/pganalyze/pg_query_go/v6)
cp "$mod/LICENSE" LICENSE
cp "$mod/pg_query.go" "$mod/makefuncs.go" .
sed -e '1,/^func init() { file_pg_query_proto_init() }$/ {
	s/file_pg_query_proto_msgTypes\[/pgMsgTypes()[/g
	s/file_pg_query_proto_enumTypes\[/pgEnumTypes()[/g
}' -e '/^func init() { file_pg_query_proto_init() }$/d' "$mod/pg_query.pb.go" > pg_query.pb.go
chmod 644 LICENSE pg_query.go makefuncs.go pg_query.pb.go
