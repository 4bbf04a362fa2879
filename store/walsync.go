package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/jmoiron/sqlx"
)

// A batch of queued writes becomes visible before it is durable. Its
// transaction commits with synchronous=NORMAL, so SQLite writes its frames
// to the write-ahead log without a flush and other connections see them at
// once; the reads waiting for the batch are woken then. The flusher
// (runFlusher) then flushes the log (syncWAL) before anyone waiting for the
// batch's commit, an event subscriber or the webhook dispatcher learns of
// it, while the writer commits the next batches. So a read of call records
// waits for the writes queued before it, never for the disk, and what is
// acknowledged is as durable as with synchronous=FULL, for at most one
// flush of the log per batch. Every other write on the write connection
// still commits with synchronous=FULL.
//
// Nor does a batch's commit checkpoint the log into the database
// (wal_autocheckpoint=0 while it runs): a checkpoint flushes both files,
// and reads wait for the commit. The checkpointer (checkpointer.loop) does it
// on a connection of its own, without waiting for readers or the writer.

// The write connection's own setting, put back after a batch.
const autoCheckpointPages = 1000

// beginBatch opens the transaction of a batch on the write pool's
// connection with synchronous=NORMAL and no automatic checkpoint; end puts
// both back before the connection returns to the pool, or closes the
// connection if it cannot.
func (db *DB) beginBatch(ctx context.Context) (tx *sqlx.Tx, end func(), err error) {
	conn, err := db.w.Connx(ctx)
	if err != nil {
		return nil, nil, err
	}
	if _, err := conn.ExecContext(ctx, `PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 0`); err != nil {
		releaseConn(conn)
		return nil, nil, err
	}
	tx, err = conn.BeginTxx(ctx, nil)
	if err != nil {
		releaseConn(conn)
		return nil, nil, err
	}
	return tx, func() { releaseConn(conn) }, nil
}

// releaseConn gives a connection back to the pool with synchronous=FULL
// and its automatic checkpoint, or discards it when they cannot be set: no
// other write may commit without its flush.
func releaseConn(conn *sqlx.Conn) {
	restore := fmt.Sprintf(`PRAGMA synchronous = FULL; PRAGMA wal_autocheckpoint = %d`, autoCheckpointPages)
	if _, err := conn.ExecContext(context.Background(), restore); err != nil {
		_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	}
	_ = conn.Close()
}

// syncWAL flushes the write-ahead log to the disk. The log is opened by
// name each time, so the flush always reaches the file SQLite writes.
func syncWAL(dbPath string) error {
	f, err := os.OpenFile(dbPath+"-wal", os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		// SQLite removes the log once it has checkpointed it into the
		// database, flushed, as the last connection closes.
		return nil
	}
	if err != nil {
		return fmt.Errorf("flush write-ahead log: %w", err)
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("flush write-ahead log: %w", err)
	}
	return nil
}
