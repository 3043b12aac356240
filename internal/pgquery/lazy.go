package pg_query

import (
	"sync"

	"google.golang.org/protobuf/runtime/protoimpl"
)

// The generated code reaches its message and enum types through these, so
// the descriptors are built on first use rather than at program start
// (see update.sh).

var protoOnce sync.Once

func pgMsgTypes() []protoimpl.MessageInfo {
	protoOnce.Do(file_pg_query_proto_init)
	return file_pg_query_proto_msgTypes
}

func pgEnumTypes() []protoimpl.EnumInfo {
	protoOnce.Do(file_pg_query_proto_init)
	return file_pg_query_proto_enumTypes
}
