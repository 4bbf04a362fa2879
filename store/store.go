// Package store implements core's repositories on SQLite through sqlx.
package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"
	_ "github.com/mattn/go-sqlite3" // registers the sqlite3 driver
	"github.com/pressly/goose/v3"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Config says where the database lives and how runtime writes queue.
type Config struct {
	DataDir string
	// MaxWriteBacklog is the number of queued, uncommitted runtime writes
	// (call records and call events) from which WriteOverloaded reports
	// true, so new calls are refused rather than queued without bound.
	// Default DefaultMaxWriteBacklog.
	MaxWriteBacklog int
	// BusyTimeout is how long a statement waits for another connection's
	// lock before failing with SQLITE_BUSY (default 10 s); queued writes
	// that fail so are retried.
	BusyTimeout time.Duration
	// Log hears of queued writes being retried or refused (default: none).
	Log *slog.Logger
}

// DefaultMaxWriteBacklog is the write backlog from which new calls are refused.
const DefaultMaxWriteBacklog = 5000

// Validate checks the configuration before anything touches the disk.
func (c Config) Validate() error {
	if c.DataDir == "" {
		return errors.New("data dir is empty")
	}
	if c.MaxWriteBacklog < 0 {
		return errors.New("max write backlog is negative")
	}
	if c.BusyTimeout < 0 {
		return errors.New("busy timeout is negative")
	}
	return nil
}

// DB is the SQLite database. Writes go through one connection, so they are
// serialised; reads use a pool of query-only connections.
type DB struct {
	w      *sqlx.DB
	r      *sqlx.DB
	sealer *sealer
	path   string

	wq      *writeQueue
	ckpt    *checkpointer
	records recordCache   // call records read by lists
	recent  recentRecords // the newest call records' list keys
	subs    eventSubs
	// delivered: a write queued a webhook delivery since the last wake-up
	// of deliverySubs (the webhook dispatcher).
	delivered    atomic.Bool
	deliverySubs eventSubs

	closeOnce sync.Once
	closeErr  error
}

// FileName is the database file inside the data dir.
const FileName = "dialtone.db"

// Open prepares the data dir, opens the database (creating it if missing) and
// applies every pending migration.
func Open(ctx context.Context, cfg Config) (*DB, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := prepareDataDir(cfg.DataDir); err != nil {
		return nil, err
	}
	path := filepath.Join(cfg.DataDir, FileName)
	if err := ownerOnlyFile(path); err != nil {
		return nil, err
	}
	busy := cfg.BusyTimeout
	if busy == 0 {
		busy = 10 * time.Second
	}
	dsn := fmt.Sprintf("file:%s?_journal_mode=WAL&_foreign_keys=on&_busy_timeout=%d&_synchronous=FULL", path, busy.Milliseconds())
	w, err := sqlx.Open("sqlite3", dsn+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	if err := migrate(ctx, w); err != nil {
		w.Close()
		return nil, err
	}
	// SQLite gives the WAL and shared-memory files the database file's mode;
	// set it on them as well, whatever the umask.
	for _, f := range []string{path + "-wal", path + "-shm"} {
		if err := restrictFile(f); err != nil {
			w.Close()
			return nil, err
		}
	}
	s, err := loadSealer(ctx, w, filepath.Join(cfg.DataDir, KeyFileName))
	if err != nil {
		w.Close()
		return nil, err
	}
	// Reads keep their prepared statements per connection: the API runs the
	// same few queries over and over, and preparing one costs about as
	// much as running it.
	r, err := sqlx.Open("sqlite3", dsn+"&_query_only=true&_stmt_cache_size=64")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	// Every reader stays open: database/sql keeps only two idle by default,
	// so under load the others would be closed on release and opened again
	// for the next read, each time without its prepared statements and
	// page cache.
	readers := max(4, 2*runtime.NumCPU())
	r.SetMaxOpenConns(readers)
	r.SetMaxIdleConns(readers)
	c, err := sqlx.Open("sqlite3", dsn)
	if err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	c.SetMaxOpenConns(1)
	c.SetConnMaxIdleTime(0)
	db := &DB{w: w, r: r, sealer: s, path: path}
	if err := db.recent.load(ctx, w, recentRecordsSize); err != nil {
		c.Close()
		r.Close()
		w.Close()
		return nil, err
	}
	db.startWriteQueue(cfg, c)
	return db, nil
}

// prepareDataDir creates the data dir, readable by its owner only, and
// checks that it is writable. An existing dir keeps its mode: see
// DataDirExposed.
func prepareDataDir(dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case err == nil && !fi.IsDir():
		return fmt.Errorf("data dir %s is not a directory", dir)
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("data dir %s: %w", dir, errors.Unwrap(err))
		}
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("data dir %s: %w", dir, errors.Unwrap(err))
		}
	case err != nil:
		return fmt.Errorf("data dir %s: %w", dir, errors.Unwrap(err))
	}
	probe, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return fmt.Errorf("data dir %s is not writable", dir)
	}
	probe.Close()
	return os.Remove(probe.Name())
}

// DataDirExposed reports whether an existing data dir can be read or entered
// by its group or by others, which should be told to the operator: the
// database and secret key in it are meant for the server's user only.
func DataDirExposed(dir string) (fs.FileMode, bool) {
	fi, err := os.Stat(dir)
	if err != nil || !fi.IsDir() {
		return 0, false
	}
	return fi.Mode().Perm(), fi.Mode().Perm()&0o077 != 0
}

// ownerOnlyFile creates the file when missing and makes it readable and
// writable by its owner only.
func ownerOnlyFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open database %s: %w", path, errors.Unwrap(err))
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("open database %s: %w", path, err)
	}
	return restrictFile(path)
}

// restrictFile sets mode 0600 on an existing file that others could read,
// whatever the umask was when it was created.
func restrictFile(path string) error {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err == nil && fi.Mode().Perm() != 0o600 {
		err = os.Chmod(path, 0o600)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, errors.Unwrap(err))
	}
	return nil
}

func migrate(ctx context.Context, db *sqlx.DB) error {
	sub, err := fs.Sub(migrationFS, "migrations")
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db.DB, sub)
	if err != nil {
		return fmt.Errorf("load migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("apply migrations: %w", err)
	}
	return nil
}

// Migrate opens the database, applies pending migrations and closes it again.
func Migrate(ctx context.Context, cfg Config) error {
	db, err := Open(ctx, cfg)
	if err != nil {
		return err
	}
	return db.Close()
}

// Ping checks that the database answers a query.
func (db *DB) Ping(ctx context.Context) error {
	var one int
	return db.r.GetContext(ctx, &one, "SELECT 1")
}

// Close refuses new runtime writes, commits every queued one (retrying
// failures for up to closeDrainTimeout), checkpoints the write-ahead log and
// closes every connection. Calls after the first return the first result.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		qerr := db.wq.close()
		cerr := db.ckpt.stop()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		rerr := db.r.Close()
		_, _ = db.w.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
		db.closeErr = errors.Join(qerr, cerr, rerr, db.w.Close())
	})
	return db.closeErr
}

// IntegrityCheck runs SQLite's own consistency check.
func (db *DB) IntegrityCheck(ctx context.Context) error {
	var res string
	if err := db.r.GetContext(ctx, &res, "PRAGMA integrity_check"); err != nil {
		return err
	}
	if res != "ok" {
		return fmt.Errorf("integrity check: %s", res)
	}
	return nil
}

// inTx runs fn in a write transaction.
func (db *DB) inTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	tx, err := db.w.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

func micros(t time.Time) int64 { return t.UTC().UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }
