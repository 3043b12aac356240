package dbconn

import (
	"context"
	"encoding/binary"
	"net"
	"sync"

	"github.com/jackc/pgx/v5/pgconn"
)

// With sslmode=prefer, libpq's default and so the default of every
// DATABASE_URL that names no sslmode, pgx asks the server for TLS and, when
// the server says no (the official postgres image, most compose setups),
// closes the socket and dials again for the plain attempt: a second TCP
// connection and a second server process forked, several milliseconds on
// every run. libpq goes on over the same socket, which the protocol allows.
// keepRefused does the same for pgx: the socket whose TLS request was
// refused is kept and handed to the plain attempt's dial.
type keepRefused struct {
	dial  pgconn.DialFunc
	mu    sync.Mutex
	spare map[string]net.Conn // address -> socket after a refused SSLRequest
}

func preferOnOneSocket(cc *pgconn.Config) *keepRefused {
	k := &keepRefused{dial: cc.DialFunc, spare: map[string]net.Conn{}}
	cc.DialFunc = k.Dial
	return k
}

func (k *keepRefused) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	k.mu.Lock()
	c := k.spare[network+" "+addr]
	delete(k.spare, network+" "+addr)
	k.mu.Unlock()
	if c != nil {
		return c, nil
	}
	c, err := k.dial(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &watchTLS{Conn: c, k: k, key: network + " " + addr}, nil
}

// closeSpare closes a kept socket nobody took (sslmode=require, say).
func (k *keepRefused) closeSpare() {
	k.mu.Lock()
	defer k.mu.Unlock()
	for key, c := range k.spare {
		c.Close()
		delete(k.spare, key)
	}
}

// watchTLS notices an SSLRequest answered with 'N'; closed right after it,
// the socket is kept rather than closed.
type watchTLS struct {
	net.Conn
	k       *keepRefused
	key     string
	asked   bool // the first write was an SSLRequest
	refused bool // and the first byte read was 'N'
	other   bool // anything else happened: the socket is the caller's
}

const sslRequestCode = 80877103

func (w *watchTLS) Write(p []byte) (int, error) {
	if !w.asked && !w.other && len(p) == 8 && binary.BigEndian.Uint32(p) == 8 && binary.BigEndian.Uint32(p[4:]) == sslRequestCode {
		w.asked = true
	} else {
		w.other = true
	}
	return w.Conn.Write(p)
}

func (w *watchTLS) Read(p []byte) (int, error) {
	n, err := w.Conn.Read(p)
	if w.asked && !w.refused && !w.other && n == 1 && p[0] == 'N' && err == nil {
		w.refused = true
	} else if n > 0 {
		w.other = true
	}
	return n, err
}

func (w *watchTLS) Close() error {
	if w.refused && !w.other {
		w.k.mu.Lock()
		defer w.k.mu.Unlock()
		if _, taken := w.k.spare[w.key]; !taken {
			w.k.spare[w.key] = w.Conn
			return nil
		}
	}
	return w.Conn.Close()
}
