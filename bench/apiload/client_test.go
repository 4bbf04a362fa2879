package main

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestClient: the client reads every kind of response a server sends and
// keeps its connection for the next request unless told otherwise.
func TestClient(t *testing.T) {
	big := strings.Repeat("x", 100_000)
	mux := http.NewServeMux()
	mux.HandleFunc("/length", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer k" || r.Header.Get("Accept") != "application/json" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Length", "5")
		_, _ = w.Write([]byte("hello"))
	})
	mux.HandleFunc("/chunked", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(big[:10]))
		w.(http.Flusher).Flush()
		_, _ = w.Write([]byte(big))
	})
	mux.HandleFunc("/close", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		_, _ = w.Write([]byte("bye"))
	})
	mux.HandleFunc("/empty", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()

	cl := &client{timeout: 5 * time.Second}
	for _, tc := range []struct {
		path      string
		status    int
		bytes     int64
		connsThen int32 // connections the server has seen after the request
	}{
		{"/length", 200, 5, 1},
		{"/chunked", 200, int64(10 + len(big)), 1},
		{"/missing", 404, int64(len("404 page not found\n")), 1},
		{"/empty", 204, 0, 1},
		{"/close", 200, 3, 1},
		{"/length", 200, 5, 2}, // the server closed the last one
		{"/length", 200, 5, 2},
	} {
		req, addr, err := requestBytes(srv.URL, tc.path, "k")
		if err != nil {
			t.Fatal(err)
		}
		cl.addr = addr
		status, n, err := cl.do(context.Background(), req)
		if err != nil || status != tc.status || n != tc.bytes {
			t.Fatalf("%s: status %d, %d bytes, %v; want %d, %d bytes", tc.path, status, n, err, tc.status, tc.bytes)
		}
		if conns.Load() != tc.connsThen {
			t.Fatalf("%s: the server saw %d connections, want %d", tc.path, conns.Load(), tc.connsThen)
		}
	}

	// A kept-alive connection the server closed while idle is dialled again.
	srv.CloseClientConnections()
	req, _, _ := requestBytes(srv.URL, "/length", "k")
	if status, _, err := cl.do(context.Background(), req); err != nil || status != 200 {
		t.Fatalf("after the server closed the connection: status %d, %v", status, err)
	}
}
