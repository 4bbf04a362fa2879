package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"time"
)

// A client is one worker's keep-alive HTTP/1.1 connection. It sends
// requests prepared once as bytes and reads each response just far enough to
// know its status and skip its body, so the load generator spends little of
// the CPU it shares with the server on its own side of the exchange. A
// connection that fails or is closed by the server is dialled again for the
// next request.
type client struct {
	addr    string
	timeout time.Duration
	conn    net.Conn
	r       *bufio.Reader
}

// requestBytes is a GET of path with the given headers, as sent on the wire.
func requestBytes(base, path, key string) ([]byte, string, error) {
	u, err := url.Parse(base + path)
	if err != nil {
		return nil, "", err
	}
	if u.Scheme != "http" {
		return nil, "", fmt.Errorf("%s: only http:// is supported", base)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "80")
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\nAccept: application/json\r\n", u.RequestURI(), u.Host)
	if key != "" {
		fmt.Fprintf(&b, "Authorization: Bearer %s\r\n", key)
	}
	b.WriteString("\r\n")
	return b.Bytes(), host, nil
}

var errMalformed = errors.New("malformed response")

// do sends req and reads its response: the status code and the body's length.
func (c *client) do(ctx context.Context, req []byte) (status int, n int64, err error) {
	for attempt := 0; ; attempt++ {
		fresh := c.conn == nil
		if fresh {
			d := net.Dialer{Timeout: c.timeout}
			conn, err := d.DialContext(ctx, "tcp", c.addr)
			if err != nil {
				return 0, 0, err
			}
			c.conn = conn
			if c.r == nil {
				c.r = bufio.NewReaderSize(conn, 64<<10)
			} else {
				c.r.Reset(conn)
			}
		}
		deadline := time.Now().Add(c.timeout)
		if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
			deadline = d
		}
		_ = c.conn.SetDeadline(deadline)
		status, n, keep, err := c.exchange(req)
		if err != nil || !keep {
			c.conn.Close()
			c.conn = nil
		}
		// A kept-alive connection the server closed while idle fails before
		// any byte of the response: that request is sent again on a new one.
		if err != nil && !fresh && attempt == 0 && status == -1 {
			continue
		}
		if status < 0 {
			status = 0
		}
		return status, n, err
	}
}

// exchange writes req and reads one response. status is -1 when nothing of
// the response was read.
func (c *client) exchange(req []byte) (status int, n int64, keep bool, err error) {
	if _, err := c.conn.Write(req); err != nil {
		return -1, 0, false, err
	}
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		return -1, 0, false, err
	}
	// "HTTP/1.1 200 OK\r\n"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, 0, false, errMalformed
	}
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, 0, false, errMalformed
	}
	length, chunked, keep := int64(-1), false, true
	for {
		line, err := c.r.ReadSlice('\n')
		if err != nil {
			return status, 0, false, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return status, 0, false, errMalformed
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.ParseInt(string(value), 10, 64); err != nil || length < 0 {
				return status, 0, false, errMalformed
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			keep = !bytes.EqualFold(value, []byte("close"))
		}
	}
	switch {
	case status == 204 || status == 304 || status < 200:
		// These never have a body (RFC 9112 §6.3).
	case chunked:
		n, err = c.skipChunked()
	case length >= 0:
		var d int
		d, err = c.r.Discard(int(length))
		n = int64(d)
	default:
		// Without a length the body runs to the end of the connection.
		for err == nil {
			var d int
			d, err = c.r.Discard(c.r.Size())
			n += int64(d)
		}
		if errors.Is(err, io.EOF) {
			err = nil
		}
		return status, n, false, err
	}
	return status, n, keep && err == nil, err
}

// skipChunked reads a chunked body and its trailer, returning its length.
func (c *client) skipChunked() (int64, error) {
	var n int64
	for {
		line, err := c.r.ReadSlice('\n')
		if err != nil {
			return n, err
		}
		size, _, _ := bytes.Cut(bytes.TrimRight(line, "\r\n"), []byte(";"))
		s, err := strconv.ParseInt(string(bytes.TrimSpace(size)), 16, 64)
		if err != nil || s < 0 {
			return n, errMalformed
		}
		if s == 0 {
			break
		}
		if _, err := c.r.Discard(int(s) + 2); err != nil {
			return n, err
		}
		n += s
	}
	for {
		line, err := c.r.ReadSlice('\n')
		if err != nil {
			return n, err
		}
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			return n, nil
		}
	}
}
