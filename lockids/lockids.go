// Package lockids assigns each service the PostgreSQL advisory lock that
// serialises its migrations.
//
// A service either has an id in the registry (kept so that upshift and an
// existing migrate script exclude each other during a switch-over), or gets
// one derived from its name. The derivation is part of upshift's contract
// and never changes:
//
//	id = first 8 bytes of SHA-256("upshift:" + name), big-endian, top bit cleared
//
// so it is a positive bigint, usable as pg_advisory_lock(id). It can be
// recomputed in SQL:
//
//	SELECT ('x' || substr(encode(sha256(convert_to('upshift:' || name, 'UTF8')), 'hex'), 1, 16))::bit(64)::bigint
//	       & x'7fffffffffffffff'::bigint
package lockids

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// ID is a PostgreSQL advisory lock key (the single-bigint form).
type ID int64

// MarshalJSON writes the id as a string: ids are 64-bit, and JavaScript's
// numbers hold 53 bits (6931383427413911055 would come out as …1000).
func (id ID) MarshalJSON() ([]byte, error) {
	return []byte(`"` + strconv.FormatInt(int64(id), 10) + `"`), nil
}

// UnmarshalJSON reads a string or, as older output wrote it, a number.
func (id *ID) UnmarshalJSON(b []byte) error {
	n, err := strconv.ParseInt(strings.Trim(string(b), `"`), 10, 64)
	if err != nil {
		return fmt.Errorf("lock id %s: %w", b, err)
	}
	*id = ID(n)
	return nil
}

// Source says where an ID came from.
type Source string

const (
	FromRegistry Source = "registry"
	Derived      Source = "derived"
	FromFlag     Source = "flag"
)

// registry holds ids that predate upshift. Never change an entry: a running
// migrate script of the same service uses it.
var registry = map[string]ID{
	"mana-auth": 987654321, // services/mana-auth/src/db/migrate.ts MIGRATION_LOCK_ID
}

// ErrNoService is returned for an empty service name.
var ErrNoService = errors.New("no service name")

// Derive computes the derived id of a service name.
func Derive(name string) ID {
	sum := sha256.Sum256([]byte("upshift:" + name))
	return ID(binary.BigEndian.Uint64(sum[:8]) & 0x7fffffffffffffff)
}

// ForTable is the lock every run that writes the migrations table takes
// after its service's lock, so that two services (or a run without
// --service) sharing one table never apply at the same time. It is the id a
// run without --service uses as its only lock.
func ForTable(schemaDotTable string) ID { return Derive("table:" + schemaDotTable) }

// For returns the lock id of a service: its registry id, or the derived one.
func For(service string) (ID, Source, error) {
	name := strings.TrimSpace(service)
	if name == "" {
		return 0, "", fmt.Errorf("%w: name the service whose migrations these are", ErrNoService)
	}
	if id, ok := registry[name]; ok {
		return id, FromRegistry, nil
	}
	return Derive(name), Derived, nil
}

// Entry is a registry line.
type Entry struct {
	Service string `json:"service"`
	ID      ID     `json:"id"`
}

// Registry lists the registered services, sorted by name.
func Registry() []Entry {
	out := make([]Entry, 0, len(registry))
	for s, id := range registry {
		out = append(out, Entry{s, id})
	}
	slices.SortFunc(out, func(a, b Entry) int { return strings.Compare(a.Service, b.Service) })
	return out
}

// Lookup returns the registered service holding id, if any.
func Lookup(id ID) (string, bool) {
	for s, rid := range registry {
		if rid == id {
			return s, true
		}
	}
	return "", false
}

// Choice is the lock a run takes, and why that one.
type Choice struct {
	ID     ID
	Source Source // FromFlag, FromRegistry, Derived
	// Service is the service it belongs to; "" when it is the migrations
	// table's own (a run that names no service).
	Service string
	Table   string
}

// Choose is the policy every command shares: an explicit id, else the
// service's, else (no service) the migrations table's own id, so that
// everything migrating the same table still excludes each other.
func Choose(explicit *int64, service, schemaDotTable string) Choice {
	switch {
	case explicit != nil:
		return Choice{ID: ID(*explicit), Source: FromFlag, Table: schemaDotTable}
	case strings.TrimSpace(service) != "":
		id, src, _ := For(service)
		return Choice{ID: id, Source: src, Service: strings.TrimSpace(service), Table: schemaDotTable}
	}
	return Choice{ID: ForTable(schemaDotTable), Source: Derived, Table: schemaDotTable}
}

// Row is one line of a listing: a registered service or a named one.
type Row struct {
	Service string `json:"service"`
	ID      ID     `json:"id"`
	Source  string `json:"source"`
}

// List is the registry followed by the named services not in it, each
// listed once.
func List(names []string) ([]Row, error) {
	var rows []Row
	listed := map[string]bool{}
	for _, e := range Registry() {
		rows = append(rows, Row{e.Service, e.ID, string(FromRegistry)})
		listed[e.Service] = true
	}
	for _, n := range names {
		n = strings.TrimSpace(n)
		if listed[n] {
			continue
		}
		listed[n] = true
		id, src, err := For(n)
		if err != nil {
			return nil, err
		}
		rows = append(rows, Row{n, id, string(src)})
	}
	return rows, nil
}
