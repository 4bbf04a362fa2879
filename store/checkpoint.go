package store

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/mattn/go-sqlite3"
)

// checkpointEvery is the least time between two checkpoints of the log
// written by batches.
const checkpointEvery = time.Second

// checkpointer copies the write-ahead log into the database on a connection
// of its own, since batches commit without checkpointing (beginBatch).
type checkpointer struct {
	conn *sqlx.DB
	// run checkpoints once (checkpointWAL); tests replace it.
	run  func(context.Context) error
	wake chan struct{}
	quit chan struct{}
	done chan struct{}
	log  *slog.Logger
}

func newCheckpointer(conn *sqlx.DB, log *slog.Logger) *checkpointer {
	c := &checkpointer{conn: conn, wake: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{}), log: log}
	c.run = c.checkpointWAL
	return c
}

// poke tells the checkpointer that batches wrote to the log; it never
// blocks.
func (c *checkpointer) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// loop checkpoints after every poke, at most once per checkpointEvery, until
// stop.
func (c *checkpointer) loop() {
	defer close(c.done)
	var last time.Time
	pause := time.NewTimer(time.Hour)
	pause.Stop()
	for {
		select {
		case <-c.wake:
		case <-c.quit:
			return
		}
		if wait := checkpointEvery - time.Since(last); wait > 0 {
			pause.Reset(wait)
			select {
			case <-pause.C:
			case <-c.quit:
				// Closing the store checkpoints what is left.
				return
			}
		}
		last = time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
		if err := c.run(ctx); err != nil {
			c.log.Warn("checkpoint of the write-ahead log failed", "error", err)
		}
		cancel()
	}
}

// stop ends the loop once a checkpoint under way is done, and closes the
// connection.
func (c *checkpointer) stop() error {
	close(c.quit)
	<-c.done
	return c.conn.Close()
}

// checkpointWAL copies what it can of the log into the database and flushes
// it, without waiting for readers or the writer (a passive checkpoint):
// frames a reader still needs are left for the next one. Another
// checkpoint under way (SQLITE_BUSY) leaves the work to it.
func (c *checkpointer) checkpointWAL(ctx context.Context) error {
	var busy, frames, copied int
	err := c.conn.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &copied)
	var serr sqlite3.Error
	if errors.As(err, &serr) && serr.Code == sqlite3.ErrBusy {
		return nil
	}
	return err
}
